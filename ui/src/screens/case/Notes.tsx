// A case's notes: timestamped remarks, oldest first, with who wrote them. Adding, editing and
// deleting go to the core; an edit or a delete is sent with the version it was made on, so a note
// changed elsewhere meanwhile is not overwritten silently. What is wrong with a note is the
// core's to say.

import { useState } from 'react';

import { addNote, ApiError, deleteNote, editNote, toApiError } from '../../api';
import type { CaseNote } from '../../bindings/CaseNote';
import type { Stored } from '../../bindings/Stored';
import { dateTimeText } from '../../lib/format';

type Note = Stored<CaseNote>;

type Props = {
  caseId: string;
  notes: Note[];
  me: string;
  onChanged: () => void;
  readOnly: boolean;
};

/** An edit in progress: the text, and the version of the note it was begun on. */
type Editing = { id: string; base: number; text: string };

function ErrorLine({ error, testId }: { error: ApiError | null; testId: string }) {
  if (!error) return null;
  return (
    <div className="field-error" role="alert" data-testid={testId} data-kind={error.kind}>
      {error.message}
    </div>
  );
}

export function Notes({ caseId, notes, me, onChanged, readOnly }: Props) {
  const [draft, setDraft] = useState('');
  const [adding, setAdding] = useState(false);
  const [addError, setAddError] = useState<ApiError | null>(null);
  const [editing, setEditing] = useState<Editing | null>(null);
  const [editError, setEditError] = useState<ApiError | null>(null);
  const [saving, setSaving] = useState(false);
  const [rowError, setRowError] = useState<{ id: string; error: ApiError } | null>(null);

  const add = async () => {
    if (adding) return;
    setAdding(true);
    setAddError(null);
    try {
      await addNote(caseId, draft);
      setDraft('');
      onChanged();
    } catch (e) {
      setAddError(toApiError(e));
    } finally {
      setAdding(false);
    }
  };

  const startEdit = (n: Note) => {
    setEditing({ id: n.id, base: n.version, text: n.body });
    setEditError(null);
    setRowError(null);
  };

  const saveEdit = async () => {
    if (!editing || saving) return;
    setSaving(true);
    setEditError(null);
    try {
      await editNote(editing.id, editing.base, editing.text);
      setEditing(null);
      onChanged();
    } catch (e) {
      const error = toApiError(e);
      setEditError(error);
      // Refused as stale: fetch the note as it now is, so the notice can offer it.
      if (error.kind === 'stale') onChanged();
    } finally {
      setSaving(false);
    }
  };

  const remove = async (n: Note) => {
    if (!window.confirm('Delete this note? It leaves the case and stays in its history.')) return;
    setRowError(null);
    try {
      await deleteNote(n.id, n.version);
      if (editing?.id === n.id) setEditing(null);
      onChanged();
    } catch (e) {
      const error = toApiError(e);
      setRowError({ id: n.id, error });
      if (error.kind === 'stale') onChanged();
    }
  };

  return (
    <section className="notes" data-testid="notes" aria-label="Notes">
      {notes.length === 0 && <p className="muted empty">No notes yet.</p>}
      <ol className="note-list">
        {notes.map((n) => {
          const isEditing = editing?.id === n.id;
          const movedOn = isEditing && editing.base !== n.version;
          return (
            <li key={n.id} className="note" data-testid="note" data-id={n.id} data-version={n.version}>
              <header>
                <strong data-testid="note-author">{n.author_id === me ? 'You' : n.author_id}</strong>
                <time dateTime={n.created_at} data-testid="note-time">
                  {dateTimeText(n.created_at)}
                </time>
                {n.version > 1 && (
                  <span className="muted" data-testid="note-edited" title={`Version ${n.version}`}>
                    edited {dateTimeText(n.updated_at)}
                    {n.updated_by !== n.author_id ? ` by ${n.updated_by}` : ''}
                  </span>
                )}
                {!readOnly && !isEditing && (
                  <span className="note-actions">
                    <button type="button" data-testid="note-edit" onClick={() => startEdit(n)} aria-label="Edit note">
                      Edit
                    </button>
                    <button type="button" data-testid="note-delete" onClick={() => void remove(n)} aria-label="Delete note">
                      Delete
                    </button>
                  </span>
                )}
              </header>
              {isEditing ? (
                <form
                  className="note-edit"
                  onSubmit={(e) => {
                    e.preventDefault();
                    void saveEdit();
                  }}
                >
                  {movedOn && (
                    <div className="notice warn" role="alert" data-testid="note-stale">
                      This note was changed elsewhere (now version {n.version}) while you edited version {editing.base}.
                      Saving would be refused.{' '}
                      <button type="button" onClick={() => startEdit(n)} data-testid="note-reload">
                        Discard my edits and load version {n.version}
                      </button>
                    </div>
                  )}
                  <textarea
                    aria-label="Edit note"
                    data-testid="note-edit-input"
                    rows={3}
                    value={editing.text}
                    autoFocus
                    aria-invalid={editError?.fields.some((f) => f.field === 'body') || undefined}
                    onChange={(e) => setEditing({ ...editing, text: e.target.value })}
                    onKeyDown={(e) => {
                      if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
                        e.preventDefault();
                        void saveEdit();
                      }
                      if (e.key === 'Escape') {
                        e.preventDefault();
                        setEditing(null);
                        setEditError(null);
                      }
                    }}
                  />
                  <ErrorLine error={editError} testId="note-edit-error" />
                  <div className="form-actions">
                    <button type="submit" className="primary" data-testid="note-edit-save" disabled={saving}>
                      {saving ? 'Saving…' : 'Save'}
                    </button>
                    <button
                      type="button"
                      onClick={() => {
                        setEditing(null);
                        setEditError(null);
                      }}
                    >
                      Cancel
                    </button>
                  </div>
                </form>
              ) : (
                <p className="body" data-testid="note-body">
                  {n.body}
                </p>
              )}
              {rowError?.id === n.id && <ErrorLine error={rowError.error} testId="note-error" />}
            </li>
          );
        })}
      </ol>
      {!readOnly && (
        <form
          className="note-add"
          onSubmit={(e) => {
            e.preventDefault();
            void add();
          }}
        >
          <label htmlFor="new-note">Add a note</label>
          <textarea
            id="new-note"
            data-testid="note-input"
            rows={3}
            placeholder="A remark on this case… (Ctrl+Enter to add)"
            value={draft}
            aria-invalid={addError?.fields.some((f) => f.field === 'body') || undefined}
            onChange={(e) => setDraft(e.target.value)}
            onKeyDown={(e) => {
              if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
                e.preventDefault();
                void add();
              }
            }}
          />
          <ErrorLine error={addError} testId="note-add-error" />
          <div className="form-actions">
            <button type="submit" className="primary" data-testid="note-add" disabled={adding}>
              {adding ? 'Adding…' : 'Add note'}
            </button>
          </div>
        </form>
      )}
    </section>
  );
}
