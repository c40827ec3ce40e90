/** The checks a new password gets before it is sent: the server's length rule, and the two copies
 * the same. The server still decides (common passwords: WEAK_PASSWORD). */

export const MIN_PASSWORD_LENGTH = 12;
export const MAX_PASSWORD_LENGTH = 1024;

export type NewPasswordProblems = { newPassword?: string; repeat?: string };

export function newPasswordProblems(newPassword: string, repeat: string): NewPasswordProblems {
  const problems: NewPasswordProblems = {};
  // Counted in code points, as the server counts characters.
  const length = [...newPassword].length;
  if (length < MIN_PASSWORD_LENGTH) {
    problems.newPassword = `Use at least ${MIN_PASSWORD_LENGTH} characters.`;
  } else if (length > MAX_PASSWORD_LENGTH) {
    problems.newPassword = `Use at most ${MAX_PASSWORD_LENGTH} characters.`;
  }
  if (repeat !== newPassword) problems.repeat = "The two passwords do not match.";
  return problems;
}

export function hasProblems(problems: object): boolean {
  return Object.values(problems).some(Boolean);
}
