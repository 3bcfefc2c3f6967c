/** ASL checks shared by compiler, fixture and infra tests. */
import validator from 'asl-validator';

/** The asl-validator verdict with its errors as plain data. */
export function aslVerdict(definition: unknown): { isValid: boolean; errors: unknown[] } {
  const result = validator(definition as never);
  return { isValid: result.isValid, errors: result.errors };
}
