export { leftoversOf, type Leftovers } from './leftovers.ts';
export { until } from './until.ts';
