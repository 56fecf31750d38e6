import { describe, expect, it } from 'vitest';

import { suggestMessageType } from './chat';

const ALL = ['text', 'file', 'image', 'voice', 'mixed'];
const png = { mime_type: 'image/png' };
const stl = { mime_type: 'application/sla' };

describe('the message type the composer suggests', () => {
  it('is text for text alone', () => {
    expect(suggestMessageType('hello', [], ALL)).toBe('text');
  });

  it('is image for pictures alone, and file when any file is not a picture', () => {
    expect(suggestMessageType('  ', [png, png], ALL)).toBe('image');
    expect(suggestMessageType('', [png, stl], ALL)).toBe('file');
  });

  it('is mixed for text with files', () => {
    expect(suggestMessageType('see the scan', [stl], ALL)).toBe('mixed');
  });

  it('falls back to text when the type is not offered', () => {
    expect(suggestMessageType('see the scan', [stl], ['text', 'image'])).toBe('text');
  });
});
