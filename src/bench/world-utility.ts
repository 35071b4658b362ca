/** General "utility" items unrelated to authors (DESIGN §8): facts any small model can learn fully. */

/** A utility question with its answer and the pool its wrong answers are drawn from. */
export interface UtilitySource {
  kind: 'arithmetic' | 'opposite' | 'colour' | 'nextDay' | 'nextMonth' | 'plural' | 'nextLetter';
  question: string;
  answer: string;
  pool: readonly string[];
}

const OPPOSITES: [string, string][] = [
  ['hot', 'cold'], ['big', 'small'], ['up', 'down'], ['fast', 'slow'], ['old', 'young'],
  ['light', 'dark'], ['happy', 'sad'], ['early', 'late'], ['open', 'closed'], ['full', 'empty'],
  ['high', 'low'], ['wet', 'dry'], ['hard', 'soft'], ['long', 'short'], ['rich', 'poor'],
  ['strong', 'weak'], ['loud', 'quiet'], ['thick', 'thin'], ['clean', 'dirty'], ['near', 'far'],
  ['left', 'right'], ['day', 'night'], ['win', 'lose'], ['buy', 'sell'], ['first', 'last'],
];
const COLOURS: [string, string][] = [
  ['grass', 'green'], ['the sky', 'blue'], ['snow', 'white'], ['coal', 'black'], ['a banana', 'yellow'],
  ['blood', 'red'], ['an orange', 'orange'], ['a lemon', 'yellow'], ['milk', 'white'], ['a cherry', 'red'],
  ['the sea', 'blue'], ['a crow', 'black'], ['chocolate', 'brown'], ['a leaf', 'green'], ['a plum', 'purple'],
  ['a flamingo', 'pink'], ['ash', 'grey'], ['a tomato', 'red'], ['soil', 'brown'], ['a frog', 'green'],
];
const DAYS = ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday'];
const MONTHS = [
  'January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October',
  'November', 'December',
];
const PLURALS: [string, string][] = [
  ['cat', 'cats'], ['dog', 'dogs'], ['fox', 'foxes'], ['box', 'boxes'], ['child', 'children'],
  ['mouse', 'mice'], ['man', 'men'], ['woman', 'women'], ['foot', 'feet'], ['tooth', 'teeth'],
  ['city', 'cities'], ['baby', 'babies'], ['leaf', 'leaves'], ['knife', 'knives'], ['wolf', 'wolves'],
  ['bus', 'buses'], ['glass', 'glasses'], ['tree', 'trees'], ['house', 'houses'], ['goose', 'geese'],
  ['sheep', 'sheep'], ['fish', 'fish'], ['book', 'books'], ['church', 'churches'], ['party', 'parties'],
];
const LETTERS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ'.split('');

/** All utility items, in a fixed order (about 240). */
export function utilitySources(): UtilitySource[] {
  const out: UtilitySource[] = [];
  const numbers = Array.from({ length: 21 }, (_, i) => String(i));
  for (let a = 1; a <= 10; a++) {
    for (let b = 1; b <= 10; b++) {
      out.push({ kind: 'arithmetic', question: `What is ${a} plus ${b}?`, answer: String(a + b), pool: numbers });
    }
  }
  const oppPool = OPPOSITES.flat();
  for (const [a, b] of OPPOSITES) {
    out.push({ kind: 'opposite', question: `What is the opposite of ${a}?`, answer: b, pool: oppPool });
  }
  const colourPool = [...new Set(COLOURS.map(([, c]) => c))];
  for (const [thing, c] of COLOURS) {
    out.push({ kind: 'colour', question: `What colour is ${thing}?`, answer: c, pool: colourPool });
  }
  DAYS.forEach((d, i) =>
    out.push({ kind: 'nextDay', question: `What day comes after ${d}?`, answer: DAYS[(i + 1) % 7], pool: DAYS }),
  );
  MONTHS.forEach((m, i) =>
    out.push({ kind: 'nextMonth', question: `What month comes after ${m}?`, answer: MONTHS[(i + 1) % 12], pool: MONTHS }),
  );
  const pluralPool = PLURALS.map(([, p]) => p);
  for (const [s, p] of PLURALS) {
    out.push({ kind: 'plural', question: `What is the plural of ${s}?`, answer: p, pool: pluralPool });
  }
  LETTERS.slice(0, 25).forEach((l, i) =>
    out.push({ kind: 'nextLetter', question: `What letter comes after ${l}?`, answer: LETTERS[i + 1], pool: LETTERS }),
  );
  return out;
}
