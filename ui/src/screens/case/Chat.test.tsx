import { render, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { clearMocks, mockIPC } from '@tauri-apps/api/mocks';
import { afterEach, describe, expect, it, vi } from 'vitest';

import type { ChatMessage } from '../../bindings/ChatMessage';
import type { MessageStatus } from '../../bindings/MessageStatus';
import type { Stored } from '../../bindings/Stored';
import { Chat } from './Chat';

afterEach(() => clearMocks());

let n = 0;
function message(
  sender: string,
  text: string,
  status: MessageStatus,
  extra: Partial<Stored<ChatMessage>> = {},
): Stored<ChatMessage> {
  n += 1;
  return {
    id: `m${n}`,
    version: 1,
    created_at: '2026-11-21T09:00:00.000Z',
    updated_at: '2026-11-21T09:00:00.000Z',
    updated_by: sender,
    deleted_at: null,
    case_id: 'c1',
    message_type: 'text',
    message_content: text,
    attachments: [],
    reply_to: null,
    reactions: {},
    sender_id: sender,
    parent_message_id: null,
    message_purpose: null,
    message_status: status,
    sent_at: '2026-11-21T09:00:00.000Z',
    edited_at: null,
    read_at: null,
    ...extra,
  };
}

describe('chat', () => {
  it('shows the delivery state of one’s own messages, and marks others’ read', async () => {
    const calls: Array<[string, unknown]> = [];
    mockIPC((cmd, args) => {
      calls.push([cmd, args]);
      return null;
    });
    const msgs = [
      message('ann', 'one', 'sending'),
      message('ann', 'two', 'sent'),
      message('ann', 'three', 'read'),
      message('ann', 'four', 'failed'),
      message('bob', 'from bob', 'sent', { reactions: { '👍': ['ann', 'carol'] } }),
    ];
    render(<Chat caseId="c1" messages={msgs} me="ann" messageTypes={['text']} onChanged={() => undefined} readOnly={false} />);
    const statuses = screen.getAllByTestId('chat-status').map((el) => el.getAttribute('data-status'));
    expect(statuses).toEqual(['sending', 'sent', 'read', 'failed']);
    expect(screen.getAllByTestId('chat-status')[0]).toHaveTextContent('Sending');
    const bobs = screen.getAllByTestId('chat-message')[4];
    expect(within(bobs).queryByTestId('chat-status')).toBeNull();
    expect(within(bobs).queryByTestId('chat-edit')).toBeNull(); // only the sender edits
    expect(within(bobs).getByRole('button', { name: '👍 2' })).toHaveAttribute('aria-pressed', 'true');
    await waitFor(() => expect(calls).toContainEqual(['mark_read', { id: msgs[4].id }]));
    expect(calls.filter(([c]) => c === 'mark_read')).toHaveLength(1);
  });

  it('sends with Enter, as a reply, and reports what the core refused', async () => {
    const user = userEvent.setup();
    const posted: unknown[] = [];
    mockIPC((cmd, args) => {
      if (cmd !== 'post_message') return null;
      const a = args as { message: { message_content: string } };
      if (!a.message.message_content.trim()) {
        throw { kind: 'invalid', message: 'the chat message was not saved: message_content: a text message needs some text', fields: [] };
      }
      posted.push(args);
      return null;
    });
    const onChanged = vi.fn();
    const bob = message('bob', 'Margin on 36?', 'read');
    render(<Chat caseId="c1" messages={[bob]} me="ann" messageTypes={['text', 'image']} onChanged={onChanged} readOnly={false} />);
    await user.click(screen.getByTestId('chat-reply'));
    expect(screen.getByTestId('chat-replying')).toHaveTextContent('bob');
    await user.type(screen.getByTestId('chat-input'), 'Rescanned{Enter}');
    await waitFor(() => expect(posted).toHaveLength(1));
    expect(posted[0]).toEqual({
      caseKey: 'c1',
      message: { message_type: 'text', message_content: 'Rescanned', attachments: [], reply_to: bob.id, parent_message_id: null, message_purpose: null },
    });
    expect(onChanged).toHaveBeenCalled();
    expect(screen.getByTestId('chat-input')).toHaveValue('');
    expect(screen.queryByTestId('chat-replying')).toBeNull();

    await user.click(screen.getByTestId('chat-send'));
    expect(await screen.findByTestId('chat-error')).toHaveTextContent('needs some text');
  });

  it('shows a deleted message as deleted, with no actions', () => {
    mockIPC(() => null);
    const gone = message('ann', 'secret', 'sent', { deleted_at: '2026-11-21T10:00:00.000Z' });
    render(<Chat caseId="c1" messages={[gone]} me="ann" messageTypes={['text']} onChanged={() => undefined} readOnly={false} />);
    const el = screen.getByTestId('chat-message');
    expect(el).toHaveTextContent('Message deleted');
    expect(el).not.toHaveTextContent('secret');
    expect(within(el).queryByTestId('chat-edit')).toBeNull();
  });
});
