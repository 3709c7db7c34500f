// README.md stays short and points into docs/; the pages point at each other's sections. A link
// whose file was renamed or whose heading was reworded breaks silently on GitHub, so every
// relative link of README.md and docs/*.md is resolved here: the file must exist and the
// #anchor must be one GitHub gives a heading of that file.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');
const PAGES = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => join('docs', f))];

/** The text outside fenced code blocks, line by line (code is neither linked nor a heading). */
function proseLines(markdown: string): string[] {
  let fence: string | undefined;
  const lines: string[] = [];
  for (const line of markdown.split('\n')) {
    const marker = /^\s{0,3}(`{3,}|~{3,})/.exec(line)?.[1];
    if (marker && (fence === undefined || marker.startsWith(fence))) {
      fence = fence === undefined ? marker : undefined;
      lines.push('');
      continue;
    }
    lines.push(fence === undefined ? line : '');
  }
  return lines;
}

/** GitHub's anchor for a heading: its text lower-cased, punctuation dropped, spaces as hyphens. */
function slugOf(heading: string): string {
  const text = heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1') // a link shows its text
    .replace(/`/g, '')
    .replace(/<[^>]+>/g, '')
    .trim()
    .toLowerCase();
  return text.replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '').replace(/ /g, '-');
}

/** Every anchor a page offers: its headings' (the nth repeat gets -n) and explicit ids. */
function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const line of proseLines(markdown)) {
    const heading = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line)?.[1];
    if (heading !== undefined) {
      const slug = slugOf(heading);
      const n = seen.get(slug) ?? 0;
      seen.set(slug, n + 1);
      anchors.add(n === 0 ? slug : `${slug}-${n}`);
    }
    for (const m of line.matchAll(/<a\s+(?:id|name)="([^"]+)"/g)) anchors.add(m[1]!);
  }
  return anchors;
}

interface Link {
  page: string;
  line: number;
  target: string;
}

/** The page's relative links (inline and images), outside code. */
function linksOf(page: string, markdown: string): Link[] {
  const links: Link[] = [];
  proseLines(markdown).forEach((line, i) => {
    const prose = line.replace(/`[^`]*`/g, '');
    for (const m of prose.matchAll(/!?\[(?:[^\]]|\][^(])*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
      const target = m[1]!;
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto: ...
      links.push({ page, line: i + 1, target });
    }
  });
  return links;
}

/** Why a link does not resolve, or undefined when it does. */
function brokenBecause(link: Link): string | undefined {
  const hash = link.target.indexOf('#');
  const path = hash < 0 ? link.target : link.target.slice(0, hash);
  const anchor = hash < 0 ? undefined : decodeURIComponent(link.target.slice(hash + 1));
  const file = path === '' ? link.page : normalize(join(dirname(link.page), decodeURIComponent(path)));
  if (file.startsWith('..')) return 'points outside the repository';
  if (!existsSync(join(ROOT, file))) return `no file ${file}`;
  if (anchor === undefined) return undefined;
  if (!file.endsWith('.md')) return `an anchor into ${file}, which is not Markdown`;
  return anchorsOf(readFileSync(join(ROOT, file), 'utf8')).has(anchor) ? undefined : `no heading #${anchor} in ${file}`;
}

describe('GitHub anchors', () => {
  it('are made as GitHub makes them', () => {
    expect(
      [
        'The demo\'s webhooks',
        '`account-sync status`',
        '`webhook_events`',
        'Webhooks: from a change at Upvest to the mirror',
        'What Upvest\'s public documentation does not confirm, and the setting for it',
        'Queue dashboard (Bull Board)',
        'The path of a page, from fetch to commit',
      ].map(slugOf),
    ).toEqual([
      'the-demos-webhooks',
      'account-sync-status',
      'webhook_events',
      'webhooks-from-a-change-at-upvest-to-the-mirror',
      'what-upvests-public-documentation-does-not-confirm-and-the-setting-for-it',
      'queue-dashboard-bull-board',
      'the-path-of-a-page-from-fetch-to-commit',
    ]);
  });

  it('number a repeated heading, and are found in the page', () => {
    const page = '# Webhooks\n\n## Settings\n\n```sh\n# not a heading\n```\n\n## Settings\n';
    expect([...anchorsOf(page)]).toEqual(['webhooks', 'settings', 'settings-1']);
  });
});

describe('README.md and docs/*.md', () => {
  const links = PAGES.flatMap((page) => linksOf(page, readFileSync(join(ROOT, page), 'utf8')));

  it('link to files and headings that exist', () => {
    expect(links.length).toBeGreaterThan(50);
    const broken = links.flatMap((link) => {
      const why = brokenBecause(link);
      return why === undefined ? [] : [`${link.page}:${link.line}: (${link.target}) ${why}`];
    });
    expect(broken).toEqual([]);
  });

  // docs/pending-<issue>.md are notes waiting to be folded into the pages when a branch merges.
  it('are all reachable from README.md', () => {
    const fromReadme = new Set(
      links.filter((link) => link.page === 'README.md').map((link) => normalize(link.target.split('#')[0]!)),
    );
    const pages = PAGES.filter((page) => page !== 'README.md' && !/^docs\/pending-[\w-]+\.md$/.test(page));
    expect(pages.filter((page) => !fromReadme.has(page))).toEqual([]);
  });

  it('keep README.md under 250 lines', () => {
    expect(readFileSync(join(ROOT, 'README.md'), 'utf8').split('\n').length).toBeLessThan(250);
  });
});
