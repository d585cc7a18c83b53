// The name a model is served under (/v2/models/{name}), one rule for the CRD's spec.model.servedName, `serve --name`
// and local mode.

export const MODEL_NAME_MAX_LENGTH = 128;
/** RE2 and JavaScript alike read it the same way (CEL's matches() is RE2). */
export const MODEL_NAME_PATTERN = '^[A-Za-z0-9]([A-Za-z0-9_.-]*[A-Za-z0-9])?$';
export const MODEL_NAME_RULE = 'must start and end with a letter or digit and hold only letters, digits, ".", "_" and "-"';

const pattern = new RegExp(MODEL_NAME_PATTERN);

/** Why a model name is not one, or undefined when it is. */
export function modelNameProblem(name: string): string | undefined {
  if (name.length > MODEL_NAME_MAX_LENGTH) return `may be at most ${MODEL_NAME_MAX_LENGTH} characters`;
  return pattern.test(name) ? undefined : MODEL_NAME_RULE;
}
