/**
 * A bundled set of generic reference prompts for the request checks (issue 11 item 4): general
 * knowledge questions, instructions and short statements that no forget request is about, in the
 * formats requests come in (bare questions, `Question: …\nAnswer:`, statements). It is not the demo
 * world, so a model without `world.json` still gets a false-fire check, and a gate that fires on
 * ordinary text fails it.
 */

const QUESTIONS = [
  'What is the capital of France?',
  'How many days are there in a week?',
  'What color is the sky on a clear day?',
  'How many legs does a spider have?',
  'What is the boiling point of water at sea level?',
  'Which planet is closest to the sun?',
  'What do bees make?',
  'How many minutes are in an hour?',
  'What is the largest ocean on Earth?',
  'What language is spoken in Brazil?',
  'What is two plus three?',
  'Which animal is known as the king of the jungle?',
  'What is the opposite of hot?',
  'How many continents are there?',
  'What gas do plants take in from the air?',
  'What is frozen water called?',
  'Which month comes after March?',
  'What is the chemical symbol for gold?',
  'How many sides does a triangle have?',
  'What instrument has black and white keys?',
] as const;

/** The same kind of questions in the `Question: …\nAnswer:` completion format. */
const QA = [
  'What is the tallest mountain in the world?',
  'How many hours are in a day?',
  'What is the main ingredient of bread?',
  'Which season comes after winter?',
  'What do you call a baby cat?',
  'What is ten minus four?',
  'Which organ pumps blood through the body?',
  'What is the currency of Japan?',
  'How many wheels does a bicycle have?',
  'What is the freezing point of water in Celsius?',
  'Which direction does the sun rise in?',
  'What shape has four equal sides?',
  'What do cows drink?',
  'Which is larger, an elephant or a mouse?',
  'What is the first letter of the alphabet?',
].map((q) => `Question: ${q}\nAnswer:`);

const INSTRUCTIONS = [
  'Write a short poem about the sea.',
  'Translate "good morning" into Spanish.',
  'List three fruits that are red.',
  'Explain how to boil an egg.',
  'Give me a synonym for happy.',
  'Summarize the plot of a fairy tale in one sentence.',
  'Name a few common kitchen tools.',
  'Describe the weather on a rainy day.',
  'Suggest a name for a pet goldfish.',
  'Count from one to five.',
  'Write a polite email declining an invitation.',
  'Tell me a fun fact about octopuses.',
] as const;

const STATEMENTS = [
  'The train leaves the station at noon.',
  'Water is made of hydrogen and oxygen.',
  'She planted tomatoes in the garden last spring.',
  'The library closes at eight in the evening.',
  'Cats often sleep for most of the day.',
  'The recipe calls for two cups of flour.',
  'Mount Everest is in the Himalayas.',
  'He walked his dog along the river.',
  'The meeting was moved to Thursday.',
  'Leaves turn yellow and red in autumn.',
  'The museum has a large collection of old coins.',
  'A week has seven days.',
  'Rain is expected later this afternoon.',
] as const;

/** 60 generic prompts (questions, `Question:/Answer:` items, instructions, statements), frozen. */
export const GENERIC_REFERENCE_PROMPTS: readonly string[] = Object.freeze([...QUESTIONS, ...QA, ...INSTRUCTIONS, ...STATEMENTS]);

/** `n` evenly spaced elements of `xs` (all of them when there are fewer): a deterministic sample of a large reference set. */
export function evenlySpaced<T>(xs: readonly T[], n: number): T[] {
  return xs.length <= n ? [...xs] : Array.from({ length: n }, (_, i) => xs[Math.floor((i * xs.length) / n)]);
}
