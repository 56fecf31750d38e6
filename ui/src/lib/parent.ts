import { ApiError, caseDetail } from '../api';

/**
 * The UUID of the parent case typed (a case number or a UUID); null for none. A case that does
 * not exist is reported against `parent_id`, like the core's own problems with it.
 */
export async function resolveParent(text: string): Promise<string | null> {
  const key = text.trim();
  if (!key) return null;
  try {
    return (await caseDetail(key)).case.id;
  } catch (e) {
    if (e instanceof ApiError && e.kind === 'not_found') {
      throw new ApiError({ kind: 'invalid', message: e.message, fields: [{ field: 'parent_id', problem: e.message }] });
    }
    throw e;
  }
}
