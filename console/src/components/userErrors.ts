import { asSentence } from "../api/errors";

export interface UserErrorLike {
  code: string;
  field?: string | null;
  message: string;
}

/** A mutation's expected failures as one paragraph of sentences. */
export function userErrorsSentence(errors: readonly UserErrorLike[]): string {
  return errors.map((error) => asSentence(error.message)).join(" ");
}
