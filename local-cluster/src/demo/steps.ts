// The demo's steps: each has an id and a title; a failure is reported with the step it
// happened in. AMBIENT_DEMO_FAIL_AT=<id> makes that step fail on purpose at its failpoint
// (a step that changes state and restores it places one in between; any other fails at its
// end), so the tests can prove that a failed run restores what it changed and leaves nothing
// behind.
import { MeshError } from '@ambient/api';

export const failAtEnv = 'AMBIENT_DEMO_FAIL_AT';

export interface Step {
  id: string;
  title: string;
}

export class DemoStepError extends MeshError<'ERR_DEMO_STEP_FAILED'> {
  readonly step: Step;
  constructor(step: Step, cause: unknown) {
    super('ERR_DEMO_STEP_FAILED', `step '${step.id}' (${step.title}) failed: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.step = step;
  }
}

export class DemoFailpointError extends MeshError<'ERR_DEMO_FAILPOINT'> {
  constructor(id: string) {
    super('ERR_DEMO_FAILPOINT', `failing on purpose at step '${id}' (${failAtEnv}=${id})`);
  }
}

export class StepRunner {
  readonly #say: (line: string) => void;
  readonly #failAt: string | undefined;

  constructor(say: (line: string) => void, failAt = process.env[failAtEnv]) {
    this.#say = say;
    this.#failAt = failAt || undefined;
  }

  /** Prints the title and runs the step; an error comes out as a DemoStepError naming it. */
  async run<T>(id: string, title: string, body: () => Promise<T>): Promise<T> {
    this.#say(`\n== ${title}`);
    try {
      const result = await body();
      this.failpoint(id); // for steps without a failpoint of their own
      return result;
    } catch (err) {
      if (err instanceof DemoStepError) throw err;
      throw new DemoStepError({ id, title }, err);
    }
  }

  /** Throws when this step was asked to fail. */
  failpoint(id: string): void {
    if (this.#failAt === id) throw new DemoFailpointError(id);
  }
}
