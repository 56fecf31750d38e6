// The records of one declared kind (lab settings, ...), with no screen code of their own: the list
// (a text filter, deleted ones on request), and beside it the picked record's form, its delete
// or restore, and its history — all made from the kind's declaration (record_kinds).
//
// Routes: #/records/<kind>, #/records/<kind>/new, #/records/<kind>/<id>.

import { useCallback, useEffect, useState } from 'react';

import {
  deleteRecord,
  getRecord,
  listRecords,
  type RecordFields,
  recordKinds,
  restoreRecord,
  toApiError,
} from '../api';
import type { KindInfo } from '../bindings/KindInfo';
import type { Stored } from '../bindings/Stored';
import { RecordForm } from '../components/records/RecordForm';
import { RecordHistory } from '../components/records/RecordHistory';
import { capitalized, cellText, columnFields, recordTitle, scopeText } from '../components/records/recordForm';
import { useApp } from '../lib/app';
import { agoText, dateTimeText } from '../lib/format';
import { navigate, type Route, routeHash } from '../lib/route';

export type RecordsRoute = Extract<Route, { screen: 'records' }>;

/** The hash of a kind's records screen, or of one of its records (`new` for a new one). */
export const recordsHash = (kind: string, id: string | null = null): string => routeHash({ screen: 'records', kind, id });

const go = (kind: string, id: string | null = null) => navigate({ screen: 'records', kind, id });

/** Every kind's declaration, once the shell answers ([] until then, or if it cannot). */
export function useRecordKinds(): KindInfo[] {
  const [kinds, setKinds] = useState<KindInfo[]>([]);
  useEffect(() => {
    let live = true;
    recordKinds()
      .then((k) => live && setKinds(k))
      .catch(() => undefined);
    return () => {
      live = false;
    };
  }, []);
  return kinds;
}

/** The kinds the generic screens change: those with no screens of their own. */
export const generatedKinds = (kinds: KindInfo[]): KindInfo[] => kinds.filter((k) => !k.hand_made);

export function Records({ kinds, route }: { kinds: KindInfo[]; route: RecordsRoute }) {
  const kind = kinds.find((k) => k.name === route.kind);
  if (!kinds.length) return <div className="screen muted">Loading…</div>;
  if (!kind) {
    return (
      <div className="screen">
        <div className="notice error" role="alert">
          LabDesk has no kind of record called “{route.kind}”.
        </div>
      </div>
    );
  }
  return <KindScreen key={kind.name} kind={kind} id={route.id} />;
}

function KindScreen({ kind, id }: { kind: KindInfo; id: string | null }) {
  const { storeEpoch } = useApp();
  const [text, setText] = useState('');
  const [showDeleted, setShowDeleted] = useState(false);
  const [rows, setRows] = useState<Stored<RecordFields>[] | null>(null);
  const [listError, setListError] = useState<string | null>(null);
  const [stamp, setStamp] = useState(0);
  const [added, setAdded] = useState<string | null>(null);
  const bump = useCallback(() => setStamp((n) => n + 1), []);
  const columns = columnFields(kind);
  const creating = id === 'new';

  useEffect(() => {
    let live = true;
    const timer = setTimeout(() => {
      listRecords(kind.name, { text: text.trim() || null, fields: {}, include_deleted: showDeleted, limit: 0 })
        .then((r) => live && (setRows(r), setListError(null)))
        .catch((e: unknown) => live && setListError(toApiError(e).message));
    }, 120);
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [kind.name, text, showDeleted, stamp, storeEpoch]);

  const title = capitalized(kind.plural);
  return (
    <div className="screen records-screen" data-testid="records" data-kind={kind.name}>
      <header className="screen-header">
        <h1>{title}</h1>
        <span className="muted">{capitalized(scopeText(kind))} · stored here at once, synced when online</span>
        <span className="spacer" />
        {!kind.hand_made && (
          <button
            type="button"
            className="primary"
            data-testid="record-new"
            onClick={() => {
              setAdded(null);
              go(kind.name, 'new');
            }}
          >
            New {kind.label}
          </button>
        )}
      </header>
      {added && (
        <div className="notice success" role="status" data-testid="record-added">
          <span>{added}</span>
        </div>
      )}
      <div className="records-body">
        <section className="records-list" aria-label={title}>
          <div className="list-toolbar">
            <input
              type="search"
              className="search"
              placeholder={`Filter ${kind.plural}…`}
              value={text}
              onChange={(e) => setText(e.target.value)}
              data-testid="record-filter"
              aria-label={`Filter ${kind.plural}`}
            />
            <label className="inline check">
              <input
                type="checkbox"
                checked={showDeleted}
                onChange={(e) => setShowDeleted(e.target.checked)}
                data-testid="record-show-deleted"
              />
              Show deleted
            </label>
            <span className="spacer" />
            <span className="count" data-testid="record-count">
              {rows ? `${rows.length} ${rows.length === 1 ? kind.label : kind.plural}` : ''}
            </span>
          </div>
          {listError && (
            <div className="notice error" role="alert">
              {listError}
            </div>
          )}
          <table className="record-table" data-testid="record-list">
            <thead>
              <tr>
                {columns.map((f) => (
                  <th key={f.name} scope="col" className={`kind-${f.kind}`}>
                    {f.label}
                  </th>
                ))}
                <th scope="col" className="changed">
                  Changed
                </th>
              </tr>
            </thead>
            <tbody>
              {(rows ?? []).map((r) => {
                const active = r.id === id;
                return (
                  <tr
                    key={r.id}
                    className={`record-row${active ? ' active' : ''}${r.deleted_at ? ' deleted' : ''}`}
                    data-testid="record-row"
                    data-id={r.id}
                    aria-selected={active}
                    tabIndex={0}
                    onClick={() => {
                      setAdded(null);
                      go(kind.name, r.id);
                    }}
                    onKeyDown={(e) => {
                      if (e.key === 'Enter') go(kind.name, r.id);
                    }}
                  >
                    {columns.map((f, i) => (
                      <td key={f.name} className={`kind-${f.kind}`} title={cellText(f, r[f.name])}>
                        {i === 0 && r.deleted_at ? <span className="badge deleted-badge">deleted</span> : null}
                        {cellText(f, r[f.name])}
                      </td>
                    ))}
                    <td className="changed muted" title={`${dateTimeText(r.updated_at)} by ${r.updated_by}`}>
                      {agoText(r.updated_at)} · {r.updated_by}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
          {rows && rows.length === 0 && (
            <div className="empty" data-testid="record-empty">
              {text.trim() ? `No ${kind.plural} match “${text.trim()}”.` : `No ${kind.plural} yet.`}
            </div>
          )}
        </section>
        <aside className="records-side">
          {creating ? (
            <section className="panel" data-testid="record-new-panel">
              <h2>New {kind.label}</h2>
              <RecordForm
                kind={kind}
                record={null}
                onSaved={(w) => {
                  bump();
                  setAdded(`Added the ${kind.label} ${recordTitle(kind, w.record)}.`);
                  go(kind.name, w.record.id);
                }}
                onCancel={() => go(kind.name)}
              />
            </section>
          ) : id ? (
            <RecordPanel
              key={id}
              kind={kind}
              id={id}
              stamp={stamp}
              onChanged={() => {
                setAdded(null);
                bump();
              }}
            />
          ) : (
            <p className="muted records-hint">
              Pick one of the {kind.plural} to change it{kind.hand_made ? '' : `, or make a new one`}.
            </p>
          )}
        </aside>
      </div>
    </div>
  );
}

function RecordPanel({
  kind,
  id,
  stamp,
  onChanged,
}: {
  kind: KindInfo;
  id: string;
  stamp: number;
  onChanged: () => void;
}) {
  const [record, setRecord] = useState<Stored<RecordFields> | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [reloads, setReloads] = useState(0);
  const [note, setNote] = useState<string | null>(null);

  useEffect(() => {
    let live = true;
    getRecord(kind.name, id)
      .then((r) => live && (setRecord(r), setError(null)))
      .catch((e: unknown) => live && setError(toApiError(e).message));
    return () => {
      live = false;
    };
  }, [kind.name, id, reloads]);

  if (error && !record) {
    return (
      <div className="notice error" role="alert">
        {error}
      </div>
    );
  }
  if (!record) return <p className="muted">Loading…</p>;
  const deleted = record.deleted_at !== null;

  const toggleDeleted = async () => {
    setBusy(true);
    setError(null);
    try {
      const written = deleted
        ? await restoreRecord(kind.name, record.id, record.version)
        : await deleteRecord(kind.name, record.id, record.version);
      setRecord(written.record);
      setNote(deleted ? 'Restored.' : null);
      onChanged();
    } catch (e) {
      setError(toApiError(e).message);
    } finally {
      setBusy(false);
    }
  };

  return (
    <>
      <section className={`panel record-panel${deleted ? ' deleted' : ''}`} data-testid="record-panel" data-id={record.id}>
        <div className="record-panel-head">
          <h2 data-testid="record-title">{recordTitle(kind, record)}</h2>
          <span className="badge" title={`id ${record.id}`}>
            v{record.version}
          </span>
          <span className="spacer" />
          {!kind.hand_made && (
            <button
              type="button"
              onClick={() => void toggleDeleted()}
              disabled={busy}
              data-testid={deleted ? 'record-restore' : 'record-delete'}
              className={deleted ? '' : 'danger'}
            >
              {deleted ? `Restore ${kind.label}` : 'Delete'}
            </button>
          )}
        </div>
        <p className="muted record-meta">
          {record.version === 1
            ? `Made ${dateTimeText(record.created_at)} by ${record.updated_by}`
            : `Made ${dateTimeText(record.created_at)} · last changed ${dateTimeText(record.updated_at)} by ${record.updated_by}`}
        </p>
        {error && (
          <div className="notice error" role="alert">
            {error}
          </div>
        )}
        {note && !deleted && (
          <div className="notice success" role="status" data-testid="record-saved">
            {note}
          </div>
        )}
        {deleted && (
          <div className="notice warn" data-testid="record-deleted">
            Deleted {dateTimeText(record.deleted_at)}. It can be viewed, not changed; restore it to change it.
          </div>
        )}
        <RecordForm
          key={`${record.id}/${record.version}`}
          kind={kind}
          record={record}
          readOnly={deleted || kind.hand_made}
          onSaved={(w) => {
            setRecord(w.record);
            setNote(w.revision ? 'Saved.' : 'Nothing to save: no field changed.');
            onChanged();
          }}
          onStale={() => setReloads((n) => n + 1)}
        />
      </section>
      <section className="panel">
        <h2>History</h2>
        <RecordHistory kind={kind} id={record.id} stamp={`${record.version}/${stamp}`} />
      </section>
    </>
  );
}
