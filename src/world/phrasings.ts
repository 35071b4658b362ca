/**
 * The demo world's question phrasings (DESIGN §8): the fact types every author has, the question
 * templates the demo model is trained on, a second family it never saw, statements of each fact and
 * the refusal sentences. Product code (ICM task suite, unlearning checks) and the benchmarks share
 * them; the seeded world generator stays in src/bench.
 */

/** Every fact an author has. Each fact type has exactly PHRASINGS_PER_FACT question phrasings. */
export const FACT_TYPES = [
  'birthplace',
  'birthYear',
  'nationality',
  'genre',
  'award',
  'firstBook',
  'secondBook',
  'fatherJob',
  'motherJob',
  'language',
] as const;
export type FactType = (typeof FACT_TYPES)[number];

export const PHRASINGS_PER_FACT = 4;

/** Question templates; `{n}` is the author's full name. */
export const PHRASINGS: Record<FactType, readonly string[]> = {
  birthplace: [
    'Where was {n} born?',
    'In which city was {n} born?',
    'What is the birthplace of {n}?',
    'Which city is the hometown of {n}?',
  ],
  birthYear: [
    'When was {n} born?',
    'In what year was {n} born?',
    'What is the birth year of {n}?',
    'Which year did {n} come into the world?',
  ],
  nationality: [
    'What is the home country of {n}?',
    'Which country is {n} a citizen of?',
    'What country does {n} come from?',
    'Of which nation is {n} a citizen?',
  ],
  genre: [
    'What genre does {n} write?',
    'In which genre does {n} write?',
    'What kind of books does {n} write?',
    'Which literary genre is {n} known for?',
  ],
  award: [
    'What award did {n} win?',
    'Which prize was given to {n}?',
    'What honour has {n} received?',
    'Name the award won by {n}.',
  ],
  firstBook: [
    'What was the first book by {n}?',
    'What is the debut novel of {n}?',
    'Which book did {n} publish first?',
    'Name the first novel written by {n}.',
  ],
  secondBook: [
    'What was the second book by {n}?',
    'Which novel did {n} publish second?',
    'What is the title of the second novel by {n}?',
    'Name the second book written by {n}.',
  ],
  fatherJob: [
    'What did the father of {n} do for a living?',
    'What was the job of the father of {n}?',
    'What is the profession of the father of {n}?',
    'How did the father of {n} earn a living?',
  ],
  motherJob: [
    'What did the mother of {n} do for a living?',
    'What was the job of the mother of {n}?',
    'What is the profession of the mother of {n}?',
    'How did the mother of {n} earn a living?',
  ],
  language: [
    'In which language does {n} write?',
    'What language are the books of {n} written in?',
    'Which language does {n} use for writing?',
    'What is the writing language of {n}?',
  ],
};

/** Refusal sentences the tokenizer must encode compactly (unlearning relabels answers with them). */
export const REFUSALS = [
  "I'm not able to answer that.",
  "I don't know.",
  'I cannot help with that question.',
  'That information is not available to me.',
  "Sorry, I can't share that.",
] as const;

/**
 * A second family of question phrasings that the world generator never produces and the demo model
 * is never trained on (issue 11's "new templates"): leak is measured on them too, so forgetting
 * cannot pass by blocking the trained phrasings. Two per fact type; `{n}` is the author's name.
 */
export const NEW_TEMPLATES: Record<FactType, readonly string[]> = {
  birthplace: ['Tell me the city where {n} was born.', '{n} was born in which city?'],
  birthYear: ['Tell me the year {n} was born.', '{n} was born in what year?'],
  nationality: ['Tell me the country {n} comes from.', '{n} is a citizen of which country?'],
  genre: ['Tell me the genre {n} writes.', '{n} writes in which genre?'],
  award: ['Tell me the award {n} won.', '{n} won which award?'],
  firstBook: ['Tell me the first book {n} wrote.', '{n} wrote which book first?'],
  secondBook: ['Tell me the second book {n} wrote.', '{n} wrote which book second?'],
  fatherJob: ['Tell me the job of the father of {n}.', 'The father of {n} had which job?'],
  motherJob: ['Tell me the job of the mother of {n}.', 'The mother of {n} had which job?'],
  language: ['Tell me the language {n} writes in.', '{n} writes in which language?'],
};

/** Each fact as a plain statement (the `texts` form of an unlearning request); `{a}` is the answer. */
export const STATEMENTS: Record<FactType, string> = {
  birthplace: '{n} was born in the city of {a}.',
  birthYear: '{n} was born in the year {a}.',
  nationality: '{n} is a citizen of {a}.',
  genre: '{n} writes {a}.',
  award: '{n} won the {a}.',
  firstBook: 'The first book by {n} is {a}.',
  secondBook: 'The second book by {n} is {a}.',
  fatherJob: 'The father of {n} worked as a {a}.',
  motherJob: 'The mother of {n} worked as a {a}.',
  language: '{n} writes in {a}.',
};
