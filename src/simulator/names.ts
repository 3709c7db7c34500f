// Account names that exercise a client's text handling: non-ASCII letters, CJK, emoji
// (surrogate pairs), quotes, apostrophes and backslashes, and names right at the 100 limit.

const FIRST = [
  'Anna', 'Zoë', 'Łukasz', 'Jürgen', 'Søren', 'José', 'François', 'Mehmet', 'Ayşe', 'Björn',
  'Chloé', 'Małgorzata', 'Siobhán', 'Ólafur', 'Dmitri', 'Renée', 'Hans', 'Mia', 'Émile',
  'Ingrid', 'Ömer', 'Noah', 'Lena', 'Paul', 'Marie', 'Jonas', 'Laura', 'Felix', 'Sofía', 'Nikolaj',
];

const LAST = [
  'Müller', 'Żółć', "O'Brien", 'Schmidt', 'García', 'Nørgaard', 'Dubois', 'Yılmaz', 'Kowalski',
  'Åberg', "D'Angelo", 'van der Berg', 'Smith-Jones', 'Öztürk', 'Ferreira', 'Ivanov', 'Weiß',
  'Lefèvre', 'Becker', 'Fischer', 'Wagner', 'Hoffmann', 'Schäfer', 'Koch', 'Richter', 'Núñez',
];

const CJK = ['山田 太郎', '王小明', '김민준', '佐藤 花子', '李娜', '陳大文', 'グエン・ヴァン・アン'];

const COMPANIES = [
  'Ñandú S.A.', 'Müller & Söhne GmbH', 'Back\\Slash Capital Ltd', 'Café "Zur Börse" KG',
  'Smørrebrød ApS', '株式会社テスト', "L'Atelier SARL", 'Zürcher Anlage AG', 'Øresund Invest A/S',
];

const SUFFIXES = [
  '', '', '', ' – Depot', ' Depot', ' Savings', ' "Growth" Portfolio', "'s Retirement 📈",
  ' – Kinder-Sparplan 🧒', ' (joint)', ' ETF-Sparplan', ' Portfolio ⭐', ' \\ Trading', ' – Notgroschen',
];

const LONG_TAIL =
  ' Family Foundation for Long-Term Sustainable Investments, Education and the Arts – Übergangsdepot';

const MAX_NAME = 100;

/** Cuts to at most `max` UTF-16 units without splitting a surrogate pair. */
export function truncateName(name: string, max = MAX_NAME): string {
  if (name.length <= max) return name;
  let end = max;
  const last = name.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end -= 1;
  return name.slice(0, end).trimEnd();
}

function pick<T>(list: readonly T[], h: number): T {
  return list[h % list.length]!;
}

/** A name from two hash words; the same words always give the same name. */
export function accountName(h1: number, h2: number): string {
  const kind = h1 % 100;
  const person = `${pick(FIRST, h2 >>> 3)} ${pick(LAST, h1 >>> 9)}`;
  if (kind < 6) return truncateName(`${pick(CJK, h2)}${pick(SUFFIXES, h1 >>> 17)}`);
  if (kind < 12) return pick(COMPANIES, h2 >>> 11);
  if (kind < 15) return truncateName(`The ${pick(LAST, h2)}-${pick(LAST, h1 >>> 5)}${LONG_TAIL}`);
  return truncateName(`${person}${pick(SUFFIXES, h2 >>> 19)}`);
}
