export { leftoversOf, type Leftovers } from './leftovers.ts';
