// The case's chat: types, replies, reactions, edit, delete, attachments, and each message's
// delivery state, which the core works out: "sending" while it waits in the outbox (it is stored
// here at once), "sent" once the lab's server has it, "read" once someone else read it, and
// "failed" with the server's reason when it was refused, which its sender can send again.
//
// Attachments are files of the case: picked among those it has, or added from disk first (the
// same attach_files the Files tab uses) and then referenced. Which files a message may carry is
// the core's to say.

import { useEffect, useRef, useState } from 'react';

import {
  attachFiles,
  chooseFiles,
  deleteMessage,
  editMessage,
  markRead,
  postMessage,
  reactMessage,
  retryMessage,
  toApiError,
} from '../../api';
import type { FileRecord } from '../../bindings/FileRecord';
import type { MessageStatus } from '../../bindings/MessageStatus';
import type { MessageType } from '../../bindings/MessageType';
import type { MessageView } from '../../bindings/MessageView';
import type { Stored } from '../../bindings/Stored';
import { suggestMessageType } from '../../lib/chat';
import { dateTimeText, humanize, sizeText } from '../../lib/format';
import { Preview, Thumbnail } from './FilePreview';

type Message = MessageView;
type CaseFile = Stored<FileRecord>;

const QUICK_REACTIONS = ['👍', '✅', '👀', '❗'];

// Plain glyphs, not emoji: they must show on a workstation with no emoji font.
const TICKS: Record<MessageStatus, { icon: string; label: string }> = {
  sending: { icon: '◷', label: 'Sending — waits for the lab server' },
  sent: { icon: '✓', label: 'Sent — the lab server has it' },
  read: { icon: '✓✓', label: 'Read' },
  failed: { icon: '!', label: 'Failed — the lab server refused it' },
};

function Tick({ status }: { status: MessageStatus }) {
  const t = TICKS[status];
  return (
    <span className={`tick ${status}`} data-testid="chat-status" data-status={status} title={t.label} aria-label={t.label}>
      {t.icon} {status === 'sending' || status === 'failed' ? humanize(status) : ''}
    </span>
  );
}

type Props = {
  caseId: string;
  messages: Message[];
  /** The case's files, which messages can carry. */
  files: CaseFile[];
  me: string;
  messageTypes: string[];
  onChanged: () => void;
  readOnly: boolean;
};

function FilePreviewDialog({ file, onClose }: { file: CaseFile; onClose: () => void }) {
  return (
    <div className="modal-backdrop" onClick={onClose}>
      <div
        className="modal preview"
        role="dialog"
        aria-modal="true"
        aria-label={file.original_name}
        data-testid="chat-file-preview"
        onClick={(e) => e.stopPropagation()}
        onKeyDown={(e) => {
          if (e.key === 'Escape') {
            e.preventDefault();
            onClose();
          }
        }}
      >
        <div className="preview-head">
          <strong>{file.original_name}</strong>
          <button type="button" className="icon-button" aria-label="Close preview" autoFocus onClick={onClose}>
            ×
          </button>
        </div>
        <Preview file={file} />
      </div>
    </div>
  );
}

export function Chat({ caseId, messages, files, me, messageTypes, onChanged, readOnly }: Props) {
  const [text, setText] = useState('');
  /** The type the person picked; null while it follows what the message holds. */
  const [chosenType, setChosenType] = useState<MessageType | null>(null);
  const [attached, setAttached] = useState<string[]>([]);
  const [picking, setPicking] = useState(false);
  const [copying, setCopying] = useState(false);
  /** Files just added from disk, known here before the case is read again. */
  const [fromDisk, setFromDisk] = useState<CaseFile[]>([]);
  const [previewId, setPreviewId] = useState<string | null>(null);
  const [replyTo, setReplyTo] = useState<Message | null>(null);
  const [editing, setEditing] = useState<{ id: string; text: string } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [sending, setSending] = useState(false);
  const [retrying, setRetrying] = useState<string | null>(null);
  const listRef = useRef<HTMLDivElement>(null);
  const inputRef = useRef<HTMLTextAreaElement>(null);
  const marked = useRef(new Set<string>());
  const byId = new Map(messages.map((m) => [m.id, m]));
  const fileById = new Map([...fromDisk, ...files].map((f) => [f.id, f]));
  const attachedFiles = attached.map((id) => fileById.get(id)).filter((f): f is CaseFile => f !== undefined);
  const type = chosenType ?? suggestMessageType(text, attachedFiles, messageTypes);
  const preview = previewId ? (fileById.get(previewId) ?? null) : null;

  // Others' messages are read once shown here.
  useEffect(() => {
    const unread = messages.filter(
      (m) =>
        m.sender_id !== me && !m.deleted_at && !m.failure && m.message_status !== 'read' && !marked.current.has(m.id),
    );
    for (const m of unread) {
      marked.current.add(m.id);
      markRead(m.id).catch(() => marked.current.delete(m.id));
    }
  }, [messages, me]);

  // Keep the newest message in view.
  const count = messages.length;
  useEffect(() => {
    const el = listRef.current;
    if (el) el.scrollTop = el.scrollHeight;
  }, [count]);

  const run = async (action: () => Promise<unknown>) => {
    setError(null);
    try {
      await action();
      onChanged();
      return true;
    } catch (e) {
      setError(toApiError(e).message);
      return false;
    }
  };

  const send = async () => {
    if (sending) return;
    setSending(true);
    const ok = await run(() =>
      postMessage(caseId, {
        message_type: type,
        message_content: text,
        attachments: attached,
        reply_to: replyTo?.id ?? null,
        parent_message_id: null,
        message_purpose: null,
      }),
    );
    setSending(false);
    if (ok) {
      setText('');
      setAttached([]);
      setFromDisk([]);
      setChosenType(null);
      setPicking(false);
      setReplyTo(null);
      inputRef.current?.focus();
    }
  };

  const toggleAttached = (id: string) =>
    setAttached((prev) => (prev.includes(id) ? prev.filter((x) => x !== id) : [...prev, id]));

  /** Files from disk become the case's files first, then this message's attachments. */
  const addFromDisk = async () => {
    setError(null);
    let paths: string[];
    try {
      paths = await chooseFiles();
    } catch (e) {
      setError(toApiError(e).message);
      return;
    }
    if (paths.length === 0) return;
    setCopying(true);
    try {
      const stored = await attachFiles(caseId, paths);
      setFromDisk((prev) => [...prev, ...stored]);
      setAttached((prev) => [...prev, ...stored.map((f) => f.id).filter((id) => !prev.includes(id))]);
      onChanged();
    } catch (e) {
      setError(toApiError(e).message);
    } finally {
      setCopying(false);
    }
  };

  const saveEdit = async (m: Message) => {
    if (!editing) return;
    if (await run(() => editMessage(m.id, m.version, editing.text))) setEditing(null);
  };

  const retry = async (m: Message) => {
    if (retrying) return;
    setRetrying(m.id);
    await run(() => retryMessage(m.id));
    setRetrying(null);
  };

  const toggleReaction = (m: Message, emoji: string) => {
    const on = !(m.reactions[emoji] ?? []).includes(me);
    void run(() => reactMessage(m.id, emoji, on));
  };

  return (
    <section className="panel chat" data-testid="chat" aria-label="Chat">
      <h2>
        Chat <span className="muted">{messages.filter((m) => !m.deleted_at).length}</span>
      </h2>
      <div className="chat-list" ref={listRef} aria-live="polite">
        {messages.length === 0 && <p className="muted empty">No messages yet.</p>}
        {messages.map((m) => {
          const mine = m.sender_id === me;
          const quoted = m.reply_to ? byId.get(m.reply_to) : undefined;
          const reactions = Object.entries(m.reactions).filter(([, users]) => users.length > 0);
          return (
            <article
              key={m.id}
              className={`message ${mine ? 'mine' : 'theirs'} ${m.deleted_at ? 'deleted' : ''} ${m.failure ? 'failed' : ''}`}
              data-testid="chat-message"
              data-status={m.message_status}
              data-id={m.id}
            >
              <header>
                <strong>{mine ? 'You' : m.sender_id}</strong>
                <time dateTime={m.sent_at ?? m.created_at}>{dateTimeText(m.sent_at ?? m.created_at)}</time>
                {m.message_type !== 'text' && <span className="badge">{humanize(m.message_type)}</span>}
                {m.message_purpose && <span className="badge">{humanize(m.message_purpose)}</span>}
                {m.edited_at && !m.deleted_at && <span className="muted">edited</span>}
                {mine && <Tick status={m.message_status} />}
              </header>
              {quoted && (
                <blockquote className="quote">
                  ↪ {quoted.sender_id === me ? 'You' : quoted.sender_id}:{' '}
                  {quoted.deleted_at ? 'deleted message' : quoted.message_content.slice(0, 80)}
                </blockquote>
              )}
              {m.deleted_at ? (
                <p className="body muted">Message deleted</p>
              ) : editing?.id === m.id ? (
                <div className="edit">
                  <textarea
                    aria-label="Edit message"
                    data-testid="chat-edit-input"
                    value={editing.text}
                    autoFocus
                    onChange={(e) => setEditing({ id: m.id, text: e.target.value })}
                    onKeyDown={(e) => {
                      if (e.key === 'Enter' && !e.shiftKey) {
                        e.preventDefault();
                        void saveEdit(m);
                      }
                      if (e.key === 'Escape') setEditing(null);
                    }}
                  />
                  <button type="button" className="primary" data-testid="chat-edit-save" onClick={() => void saveEdit(m)}>
                    Save
                  </button>
                  <button type="button" onClick={() => setEditing(null)}>
                    Cancel
                  </button>
                </div>
              ) : (
                <p className="body" data-testid="chat-text">
                  {m.message_content}
                </p>
              )}
              {m.attachments.length > 0 && !m.deleted_at && (
                <ul className="message-files" data-testid="chat-attachments">
                  {m.attachments.map((id) => {
                    const f = fileById.get(id);
                    return (
                      <li key={id} data-testid="chat-attachment" data-file-id={id}>
                        {f ? (
                          <button
                            type="button"
                            className="attachment"
                            aria-label={`Open ${f.original_name}`}
                            title={`${f.original_name} · ${sizeText(f.file_size)}`}
                            onClick={() => setPreviewId(id)}
                          >
                            <Thumbnail file={f} />
                            <span className="attachment-name">{f.original_name}</span>
                          </button>
                        ) : (
                          <span className="muted">A file no longer on this case</span>
                        )}
                      </li>
                    );
                  })}
                </ul>
              )}
              {m.failure && (
                <div className="message-failure" role="status" data-testid="chat-failure">
                  <span>Not sent: {m.failure}</span>
                  {mine && !readOnly && (
                    <button
                      type="button"
                      data-testid="chat-retry"
                      disabled={retrying !== null}
                      title="Send this message again, as a new message"
                      onClick={() => void retry(m)}
                    >
                      {retrying === m.id ? 'Sending…' : 'Retry'}
                    </button>
                  )}
                </div>
              )}
              {reactions.length > 0 && (
                <div className="reactions" data-testid="chat-reactions">
                  {reactions.map(([emoji, users]) => (
                    <button
                      type="button"
                      key={emoji}
                      className={`reaction ${users.includes(me) ? 'on' : ''}`}
                      aria-pressed={users.includes(me)}
                      title={users.join(', ')}
                      disabled={readOnly || !!m.deleted_at || !!m.failure}
                      onClick={() => toggleReaction(m, emoji)}
                    >
                      {emoji} {users.length}
                    </button>
                  ))}
                </div>
              )}
              {!m.deleted_at && !m.failure && !readOnly && editing?.id !== m.id && (
                <div className="message-actions">
                  <button type="button" data-testid="chat-reply" onClick={() => {
                    setReplyTo(m);
                    inputRef.current?.focus();
                  }}>
                    Reply
                  </button>
                  {QUICK_REACTIONS.map((emoji) => (
                    <button
                      type="button"
                      key={emoji}
                      className="react-button"
                      aria-label={`React ${emoji}`}
                      data-testid="chat-react"
                      onClick={() => toggleReaction(m, emoji)}
                    >
                      {emoji}
                    </button>
                  ))}
                  {mine && (
                    <>
                      <button type="button" data-testid="chat-edit" onClick={() => setEditing({ id: m.id, text: m.message_content })}>
                        Edit
                      </button>
                      <button
                        type="button"
                        data-testid="chat-delete"
                        onClick={() => {
                          if (window.confirm('Delete this message? Everyone will see it was deleted.')) {
                            void run(() => deleteMessage(m.id, m.version));
                          }
                        }}
                      >
                        Delete
                      </button>
                    </>
                  )}
                </div>
              )}
            </article>
          );
        })}
      </div>
      {error && (
        <div className="field-error" role="alert" data-testid="chat-error">
          {error}
        </div>
      )}
      {!readOnly && (
        <form
          className="composer"
          onSubmit={(e) => {
            e.preventDefault();
            void send();
          }}
        >
          {replyTo && (
            <div className="replying" data-testid="chat-replying">
              Replying to {replyTo.sender_id === me ? 'yourself' : replyTo.sender_id}: “{replyTo.message_content.slice(0, 60)}”
              <button type="button" className="icon-button" aria-label="Cancel reply" onClick={() => setReplyTo(null)}>
                ×
              </button>
            </div>
          )}
          {attached.length > 0 && (
            <ul className="pending-attachments" data-testid="chat-pending-attachments" aria-label="Files to send">
              {attached.map((id) => {
                const name = fileById.get(id)?.original_name ?? 'a file no longer on this case';
                return (
                  <li key={id} className="chip" data-testid="chat-pending-attachment">
                    {name}
                    <button type="button" className="icon-button" aria-label={`Do not send ${name}`} onClick={() => toggleAttached(id)}>
                      ×
                    </button>
                  </li>
                );
              })}
            </ul>
          )}
          {picking && (
            <div className="attach-picker" data-testid="chat-attach-picker">
              {files.length === 0 ? (
                <p className="muted">No files on this case yet.</p>
              ) : (
                <>
                  <p className="muted">Send files of this case:</p>
                  <ul>
                    {files.map((f) => (
                      <li key={f.id}>
                        <label>
                          <input
                            type="checkbox"
                            data-testid="chat-attach-option"
                            checked={attached.includes(f.id)}
                            onChange={() => toggleAttached(f.id)}
                          />
                          <Thumbnail file={f} />
                          <span>{f.original_name}</span>
                          <span className="muted">{sizeText(f.file_size)}</span>
                        </label>
                      </li>
                    ))}
                  </ul>
                </>
              )}
              <div className="attach-picker-actions">
                <button type="button" data-testid="chat-attach-disk" disabled={copying} onClick={() => void addFromDisk()}>
                  {copying ? 'Copying…' : 'Add files from disk…'}
                </button>
                <button type="button" onClick={() => setPicking(false)}>
                  Done
                </button>
              </div>
            </div>
          )}
          <div className="composer-row">
            <div className="composer-tools">
              <select
                aria-label="Message type"
                value={type}
                onChange={(e) => setChosenType(e.target.value as MessageType)}
                data-testid="chat-type"
              >
                {messageTypes.map((t) => (
                  <option key={t} value={t}>
                    {humanize(t)}
                  </option>
                ))}
              </select>
              <button
                type="button"
                data-testid="chat-attach"
                aria-expanded={picking}
                title="Attach files to this message"
                onClick={() => setPicking((p) => !p)}
              >
                Attach{attached.length > 0 ? ` (${attached.length})` : '…'}
              </button>
            </div>
            <textarea
              ref={inputRef}
              data-testid="chat-input"
              aria-label="Message"
              placeholder="Message… (Enter to send, Shift+Enter for a new line)"
              rows={2}
              value={text}
              onChange={(e) => setText(e.target.value)}
              onKeyDown={(e) => {
                if (e.key === 'Enter' && !e.shiftKey) {
                  e.preventDefault();
                  void send();
                }
                if (e.key === 'Escape') setReplyTo(null);
              }}
            />
            <button type="submit" className="primary" data-testid="chat-send" disabled={sending}>
              Send
            </button>
          </div>
        </form>
      )}
      {preview && <FilePreviewDialog file={preview} onClose={() => setPreviewId(null)} />}
    </section>
  );
}
