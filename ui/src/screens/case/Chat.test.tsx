import { render, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { clearMocks, mockConvertFileSrc, mockIPC } from '@tauri-apps/api/mocks';
import { afterEach, describe, expect, it, vi } from 'vitest';

import type { FileRecord } from '../../bindings/FileRecord';
import type { MessageStatus } from '../../bindings/MessageStatus';
import type { MessageView } from '../../bindings/MessageView';
import type { Stored } from '../../bindings/Stored';
import { Chat } from './Chat';

afterEach(() => {
  clearMocks();
  vi.restoreAllMocks();
});

let n = 0;
function message(
  sender: string,
  text: string,
  status: MessageStatus,
  extra: Partial<MessageView> = {},
): MessageView {
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
    failure: null,
    ...extra,
  };
}

function file(id: string, name: string, mime: string): Stored<FileRecord> {
  return {
    id,
    version: 1,
    created_at: '2026-11-21T09:00:00.000Z',
    updated_at: '2026-11-21T09:00:00.000Z',
    updated_by: 'ann',
    deleted_at: null,
    case_id: 'c1',
    message_id: null,
    original_name: name,
    stored_name: `${id}.bin`,
    file_path: '2026/11/ann/FD1-000001',
    file_size: 4096,
    mime_type: mime,
    upload_date: '2026-11-21T09:00:00.000Z',
    uploaded_by: 'ann',
    is_temp: false,
    hash: '0'.repeat(64),
  };
}

const TYPES = ['text', 'file', 'image', 'voice', 'mixed'];

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
      message('ann', 'four', 'failed', { failure: 'this lab takes no links in chat' }),
      message('bob', 'from bob', 'sent', { reactions: { '👍': ['ann', 'carol'] } }),
    ];
    render(<Chat caseId="c1" messages={msgs} files={[]} me="ann" messageTypes={['text']} onChanged={() => undefined} readOnly={false} />);
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

  it('ticks: a clock while sending, a tick once sent, two once read; a failed one says why and sends again on Retry', async () => {
    const user = userEvent.setup();
    const calls: Array<[string, unknown]> = [];
    mockIPC((cmd, args) => {
      calls.push([cmd, args]);
      return null;
    });
    const onChanged = vi.fn();
    const msgs = [
      message('ann', 'one', 'sending'),
      message('ann', 'two', 'sent'),
      message('ann', 'three', 'read'),
      message('ann', 'scan at http://scans.example', 'failed', { failure: 'this lab takes no links in chat' }),
    ];
    render(<Chat caseId="c1" messages={msgs} files={[]} me="ann" messageTypes={['text']} onChanged={onChanged} readOnly={false} />);
    const ticks = screen.getAllByTestId('chat-status');
    expect(ticks.map((t) => t.textContent?.trim())).toEqual(['◷ Sending', '✓', '✓✓', '! Failed']);
    expect(ticks[1]).toHaveAttribute('title', 'Sent — the lab server has it');
    expect(ticks[2]).toHaveAttribute('title', 'Read');
    const [sending, sent, , failed] = screen.getAllByTestId('chat-message');
    for (const m of [sending, sent]) expect(within(m).queryByTestId('chat-failure')).toBeNull();
    expect(within(failed).getByTestId('chat-failure')).toHaveTextContent('Not sent: this lab takes no links in chat');
    expect(within(failed).queryByTestId('chat-edit')).toBeNull(); // it is not in the store to edit
    expect(within(failed).queryByTestId('chat-reply')).toBeNull();
    await user.click(within(failed).getByTestId('chat-retry'));
    await waitFor(() => expect(calls).toContainEqual(['retry_message', { id: msgs[3].id }]));
    expect(onChanged).toHaveBeenCalled();
    expect(calls.filter(([c]) => c === 'mark_read')).toHaveLength(0); // one's own messages are never marked read
  });

  it('offers no Retry on someone else’s failed message, nor when read only', () => {
    mockIPC(() => null);
    const theirs = message('bob', 'from bob', 'failed', { failure: 'refused' });
    const mine = message('ann', 'mine', 'failed', { failure: 'refused' });
    const { unmount } = render(
      <Chat caseId="c1" messages={[theirs]} files={[]} me="ann" messageTypes={['text']} onChanged={() => undefined} readOnly={false} />,
    );
    expect(screen.getByTestId('chat-failure')).toHaveTextContent('Not sent: refused');
    expect(screen.queryByTestId('chat-retry')).toBeNull();
    unmount();
    render(<Chat caseId="c1" messages={[mine]} files={[]} me="ann" messageTypes={['text']} onChanged={() => undefined} readOnly />);
    expect(screen.queryByTestId('chat-retry')).toBeNull();
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
    render(<Chat caseId="c1" messages={[bob]} files={[]} me="ann" messageTypes={['text', 'image']} onChanged={onChanged} readOnly={false} />);
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
    render(<Chat caseId="c1" messages={[gone]} files={[]} me="ann" messageTypes={['text']} onChanged={() => undefined} readOnly={false} />);
    const el = screen.getByTestId('chat-message');
    expect(el).toHaveTextContent('Message deleted');
    expect(el).not.toHaveTextContent('secret');
    expect(within(el).queryByTestId('chat-edit')).toBeNull();
  });

  it('sends the files picked among the case’s, as an image message when they are pictures', async () => {
    const user = userEvent.setup();
    const posted: unknown[] = [];
    mockIPC((cmd, args) => {
      if (cmd === 'post_message') posted.push(args);
      return null;
    });
    const files = [file('f1', 'front.png', 'image/png'), file('f2', 'upper.stl', 'application/sla')];
    render(<Chat caseId="c1" messages={[]} files={files} me="ann" messageTypes={TYPES} onChanged={() => undefined} readOnly={false} />);
    await user.click(screen.getByTestId('chat-attach'));
    await user.click(within(screen.getByTestId('chat-attach-picker')).getByLabelText(/front\.png/));
    expect(screen.getByTestId('chat-pending-attachment')).toHaveTextContent('front.png');
    expect(screen.getByTestId('chat-type')).toHaveValue('image');
    await user.click(screen.getByTestId('chat-send'));
    await waitFor(() => expect(posted).toHaveLength(1));
    expect(posted[0]).toEqual({
      caseKey: 'c1',
      message: { message_type: 'image', message_content: '', attachments: ['f1'], reply_to: null, parent_message_id: null, message_purpose: null },
    });
    await waitFor(() => expect(screen.queryByTestId('chat-pending-attachment')).toBeNull());
    expect(screen.getByTestId('chat-type')).toHaveValue('text');
  });

  it('keeps the type the person chose, and text with a file goes as mixed', async () => {
    const user = userEvent.setup();
    mockIPC(() => null);
    const files = [file('f2', 'upper.stl', 'application/sla')];
    render(<Chat caseId="c1" messages={[]} files={files} me="ann" messageTypes={TYPES} onChanged={() => undefined} readOnly={false} />);
    await user.click(screen.getByTestId('chat-attach'));
    await user.click(screen.getByLabelText(/upper\.stl/));
    expect(screen.getByTestId('chat-type')).toHaveValue('file');
    await user.type(screen.getByTestId('chat-input'), 'The scan');
    expect(screen.getByTestId('chat-type')).toHaveValue('mixed');
    await user.selectOptions(screen.getByTestId('chat-type'), 'voice');
    await user.click(screen.getByRole('button', { name: 'Do not send upper.stl' }));
    expect(screen.getByTestId('chat-type')).toHaveValue('voice');
  });

  it('adds files from disk to the case first, then sends them with the message', async () => {
    const user = userEvent.setup();
    const calls: Array<[string, unknown]> = [];
    mockIPC((cmd, args) => {
      calls.push([cmd, args]);
      if (cmd === 'plugin:dialog|open') return ['/scans/bite.png'];
      if (cmd === 'attach_files') return [file('f7', 'bite.png', 'image/png')];
      return null;
    });
    const onChanged = vi.fn();
    render(<Chat caseId="c1" messages={[]} files={[]} me="ann" messageTypes={TYPES} onChanged={onChanged} readOnly={false} />);
    await user.click(screen.getByTestId('chat-attach'));
    expect(screen.getByTestId('chat-attach-picker')).toHaveTextContent('No files on this case yet.');
    await user.click(screen.getByTestId('chat-attach-disk'));
    await waitFor(() => expect(screen.getAllByTestId('chat-pending-attachment')).toHaveLength(1));
    expect(onChanged).toHaveBeenCalled();
    await user.type(screen.getByTestId('chat-input'), 'Bite photo{Enter}');
    await waitFor(() => expect(calls.map(([c]) => c)).toContain('post_message'));
    expect(calls.find(([c]) => c === 'attach_files')?.[1]).toEqual({ caseKey: 'c1', paths: ['/scans/bite.png'] });
    expect(calls.find(([c]) => c === 'post_message')?.[1]).toMatchObject({
      message: { message_type: 'mixed', message_content: 'Bite photo', attachments: ['f7'] },
    });
  });

  it('shows what the core refused when files from disk cannot be attached', async () => {
    const user = userEvent.setup();
    mockIPC((cmd) => {
      if (cmd === 'plugin:dialog|open') return ['/scans/notes.exe'];
      if (cmd === 'attach_files') {
        throw { kind: 'invalid', message: 'the file was not saved: notes.exe is not a format the lab accepts', fields: [] };
      }
      return null;
    });
    render(<Chat caseId="c1" messages={[]} files={[]} me="ann" messageTypes={TYPES} onChanged={() => undefined} readOnly={false} />);
    await user.click(screen.getByTestId('chat-attach'));
    await user.click(screen.getByTestId('chat-attach-disk'));
    expect(await screen.findByTestId('chat-error')).toHaveTextContent('not a format the lab accepts');
    expect(screen.queryByTestId('chat-pending-attachment')).toBeNull();
  });

  it('shows a message’s files by name, an image as a thumbnail, and opens one in a preview', async () => {
    const user = userEvent.setup();
    mockConvertFileSrc('linux');
    mockIPC((cmd, args) => (cmd === 'file_src' ? `/blobs/${(args as { id: string }).id}` : null));
    const files = [file('f1', 'front.png', 'image/png'), file('f2', 'upper.stl', 'application/sla')];
    const m = message('bob', 'Photos', 'read', { message_type: 'mixed', attachments: ['f1', 'f2', 'gone'] });
    render(<Chat caseId="c1" messages={[m]} files={files} me="ann" messageTypes={TYPES} onChanged={() => undefined} readOnly={false} />);
    const items = within(screen.getByTestId('chat-attachments')).getAllByTestId('chat-attachment');
    expect(items.map((el) => el.textContent)).toEqual(['front.png', 'upper.stl', 'A file no longer on this case']);
    await waitFor(() => expect(within(items[0]).getByTestId('thumbnail')).toHaveAttribute('src', expect.stringContaining('blobs')));
    expect(within(items[1]).queryByTestId('thumbnail')).toBeNull();
    await user.click(screen.getByRole('button', { name: 'Open front.png' }));
    const dialog = screen.getByTestId('chat-file-preview');
    expect(await within(dialog).findByTestId('image-preview')).toHaveAttribute('alt', 'front.png');
    await user.keyboard('{Escape}');
    expect(screen.queryByTestId('chat-file-preview')).toBeNull();
  });
});
