/**
 * Whether a request's own checks allow its adapter to go active (DESIGN §9: a request whose checks
 * fail never goes active silently). The thresholds are service configuration; the pipeline
 * escalates (more steps, recalibration) while a check fails and time is left, then reports the
 * verdict; the service stores a failed request as `needs_review` (inactive) for an admin to decide.
 */

/** Limits a request's check metrics must stay within. */
export interface ActivationThresholds {
  /** Most checked forget items still answered with their original answer. */
  maxForgetAnswerRate: number;
  /** Most reference prompts (bundled generic set + the request's own) on which the gate fires. */
  maxReferenceFalseFireRate: number;
  /** Most generated near-negatives (the forget questions about other entities) whose gated answer differs from the base model's. */
  maxNearNegativeCollateral: number;
  /** Seconds the pipeline may spend escalating (extra training, recalibration) after a failed check. */
  escalationSeconds: number;
}

export const DEFAULT_ACTIVATION_THRESHOLDS: Readonly<ActivationThresholds> = Object.freeze({
  maxForgetAnswerRate: 0.1,
  maxReferenceFalseFireRate: 0.1,
  maxNearNegativeCollateral: 0.3,
  escalationSeconds: 20,
});

/** One check's outcome; `value` null = nothing to measure (e.g. statements carry no answers), which passes. */
export interface ActivationCheck {
  name: 'forgetAnswerRate' | 'referenceFalseFireRate' | 'nearNegativeCollateral';
  value: number | null;
  threshold: number;
  passed: boolean;
}

export interface ActivationVerdict {
  passed: boolean;
  checks: ActivationCheck[];
  /** Training rounds run (1 = no escalation). */
  attempts: number;
  /** Names of the failed checks, for logs, audit details and the API. */
  failures: string[];
}

/** The check metrics the verdict reads. */
export interface ActivationInputs {
  forgetAnswerRate: number | null;
  referenceFalseFireRate: number | null;
  nearNegativeCollateral: number | null;
}

/** Compares measured check metrics with the thresholds. */
export function activationVerdict(m: ActivationInputs, t: ActivationThresholds, attempts = 1): ActivationVerdict {
  const check = (name: ActivationCheck['name'], value: number | null, threshold: number): ActivationCheck => ({
    name,
    value,
    threshold,
    passed: value === null || value <= threshold,
  });
  const checks = [
    check('forgetAnswerRate', m.forgetAnswerRate, t.maxForgetAnswerRate),
    check('referenceFalseFireRate', m.referenceFalseFireRate, t.maxReferenceFalseFireRate),
    check('nearNegativeCollateral', m.nearNegativeCollateral, t.maxNearNegativeCollateral),
  ];
  const failures = checks.filter((c) => !c.passed).map((c) => c.name);
  return { passed: failures.length === 0, checks, attempts, failures };
}
