// The chat composer's suggestions. Not rules: the core decides what a message may be; these only
// pick a sensible type to start from, which the person can change.

import type { FileRecord } from '../bindings/FileRecord';
import type { MessageType } from '../bindings/MessageType';

const isImage = (f: Pick<FileRecord, 'mime_type'>) => f.mime_type.startsWith('image/');

/**
 * The type a message most likely is, from what is in it: text alone is `text`; files alone are
 * `image` when all are pictures, else `file`; text with files is `mixed`. Only types in `offered`
 * are suggested (else `text`).
 */
export function suggestMessageType(
  text: string,
  files: Array<Pick<FileRecord, 'mime_type'>>,
  offered: readonly string[],
): MessageType {
  let type: MessageType = 'text';
  if (files.length > 0) {
    if (text.trim() !== '') type = 'mixed';
    else type = files.every(isImage) ? 'image' : 'file';
  }
  return offered.includes(type) ? type : 'text';
}
