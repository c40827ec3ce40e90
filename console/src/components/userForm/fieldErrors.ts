/**
 * A mutation's `errors[].field` ("input.email", as the schema spells it) mapped onto the form's
 * inputs; an error on no field, or on one the form does not show, is said above the form.
 */
import { asSentence } from "../../api/errors";
import type { UserErrorLike } from "../userErrors";

export interface FieldErrors<Field extends string> {
  byField: Partial<Record<Field, string>>;
  general: string[];
}

export function noFieldErrors<Field extends string>(): FieldErrors<Field> {
  return { byField: {}, general: [] };
}

export function mapFieldErrors<Field extends string>(
  errors: readonly UserErrorLike[],
  fields: readonly Field[],
): FieldErrors<Field> {
  const mapped = noFieldErrors<Field>();
  for (const error of errors) {
    const name = error.field?.replace(/^input\./, "");
    const sentence = asSentence(error.message);
    const field = fields.find((candidate) => candidate === name);
    if (field) mapped.byField[field] = [mapped.byField[field], sentence].filter(Boolean).join(" ");
    else mapped.general.push(sentence);
  }
  return mapped;
}
