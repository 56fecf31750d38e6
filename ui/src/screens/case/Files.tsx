// A case's files: drop them on the window (or choose them), watch them copy, preview images and
// STL scans. The limits shown are the core's (vocabulary); the core checks each file.

import { useCallback, useEffect, useState } from 'react';

import { attachFiles, chooseFiles, onFileDrop, onFileProgress, removeFile, toApiError } from '../../api';
import type { FileRecord } from '../../bindings/FileRecord';
import type { Stored } from '../../bindings/Stored';
import type { Vocabulary } from '../../bindings/Vocabulary';
import { dateTimeText, sizeText } from '../../lib/format';
import { isImage, isStl, Preview } from './FilePreview';

type Props = {
  caseId: string;
  files: Array<Stored<FileRecord>>;
  vocabulary: Vocabulary;
  onChanged: () => void;
  readOnly: boolean;
};

type Copying = Record<string, { done: number; total: number }>;

const baseName = (path: string) => path.split(/[\\/]/).pop() ?? path;

export function Files({ caseId, files, vocabulary, onChanged, readOnly }: Props) {
  const [copying, setCopying] = useState<Copying>({});
  const [over, setOver] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [problems, setProblems] = useState<string[]>([]);
  const [previewId, setPreviewId] = useState<string | null>(null);
  const preview = files.find((f) => f.id === previewId) ?? null;

  const attach = useCallback(
    async (paths: string[]) => {
      setError(null);
      setProblems([]);
      if (paths.length === 0) return;
      if (paths.length > vocabulary.max_files_per_upload) {
        setError(
          `${paths.length} files were given; at most ${vocabulary.max_files_per_upload} can be attached at once. Attach them in smaller groups.`,
        );
        return;
      }
      setCopying(Object.fromEntries(paths.map((p) => [p, { done: 0, total: 0 }])));
      try {
        const stored = await attachFiles(caseId, paths);
        onChanged();
        if (stored.length === 1) setPreviewId(stored[0].id);
      } catch (e) {
        const err = toApiError(e);
        setError(err.message);
        // An upload's problems start with the file's name; its index in the upload says nothing.
        setProblems(err.fields.map((f) => (f.field.startsWith('files[') ? f.problem : `${f.field}: ${f.problem}`)));
      } finally {
        setCopying({});
      }
    },
    [caseId, onChanged, vocabulary.max_files_per_upload],
  );

  useEffect(() => {
    if (readOnly) return;
    let stopDrop: (() => void) | null = null;
    let stopProgress: (() => void) | null = null;
    let live = true;
    onFileDrop((drop) => {
      if (drop.type === 'enter' || drop.type === 'over') setOver(true);
      else setOver(false);
      if (drop.type === 'drop') void attach(drop.paths);
    })
      .then((stop) => (live ? (stopDrop = stop) : stop()))
      .catch(() => undefined);
    onFileProgress((p) =>
      setCopying((c) => (p.path in c ? { ...c, [p.path]: { done: p.bytes_done, total: p.bytes_total } } : c)),
    )
      .then((stop) => (live ? (stopProgress = stop) : stop()))
      .catch(() => undefined);
    return () => {
      live = false;
      stopDrop?.();
      stopProgress?.();
    };
  }, [attach, readOnly]);

  const copyingPaths = Object.keys(copying);
  return (
    <section className="files" data-testid="files" aria-label="Files">
      {!readOnly && (
        <div className={`drop-zone ${over ? 'over' : ''}`} data-testid="file-drop">
          <p>
            <strong>Drop scans, photos or documents anywhere on this window</strong> — or{' '}
            <button
              type="button"
              data-testid="choose-files"
              onClick={() => {
                chooseFiles()
                  .then((paths) => attach(paths))
                  .catch((e: unknown) => setError(toApiError(e).message));
              }}
            >
              Choose files…
            </button>
          </p>
          <p className="muted">
            Up to {vocabulary.max_files_per_upload} files at a time, {sizeText(vocabulary.max_file_size)} each.{' '}
            <span title={vocabulary.allowed_formats.join(', ')}>Allowed: {vocabulary.allowed_formats.join(', ')}.</span>
          </p>
        </div>
      )}
      {copyingPaths.length > 0 && (
        <ul className="copying" data-testid="file-progress">
          {copyingPaths.map((path) => {
            const c = copying[path];
            return (
              <li key={path}>
                <span>{baseName(path)}</span>
                <progress max={c.total || 1} value={c.total ? c.done : undefined} aria-label={`Copying ${baseName(path)}`} />
                <span className="muted">{c.total ? `${sizeText(c.done)} of ${sizeText(c.total)}` : 'waiting…'}</span>
              </li>
            );
          })}
        </ul>
      )}
      {error && (
        <div className="notice error" role="alert" data-testid="file-error">
          {error}
          {problems.length > 0 && (
            <ul>
              {problems.map((p) => (
                <li key={p}>{p}</li>
              ))}
            </ul>
          )}
        </div>
      )}
      <div className="files-body">
        <table className="file-table" data-testid="file-list">
          <thead>
            <tr>
              <th>Name</th>
              <th>Type</th>
              <th className="num">Size</th>
              <th>Added</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {files.length === 0 && (
              <tr>
                <td colSpan={5} className="muted">
                  No files yet.
                </td>
              </tr>
            )}
            {files.map((f) => (
              <tr key={f.id} className={f.id === previewId ? 'selected' : ''} data-testid="file-row">
                <td>
                  <button
                    type="button"
                    className="link-button"
                    onClick={() => setPreviewId(f.id)}
                    aria-label={`Preview ${f.original_name}`}
                    data-testid="file-open"
                  >
                    {f.original_name}
                  </button>
                </td>
                <td className="muted">{isStl(f) ? '3D scan (STL)' : isImage(f) ? 'image' : f.mime_type}</td>
                <td className="num">{sizeText(f.file_size)}</td>
                <td className="muted">
                  {f.uploaded_by}, {dateTimeText(f.upload_date)}
                </td>
                <td>
                  {!readOnly && (
                    <button
                      type="button"
                      className="icon-button"
                      aria-label={`Remove ${f.original_name}`}
                      onClick={() => {
                        if (window.confirm(`Remove ${f.original_name} from this case?`)) {
                          removeFile(f.id)
                            .then(() => {
                              if (previewId === f.id) setPreviewId(null);
                              onChanged();
                            })
                            .catch((e: unknown) => setError(toApiError(e).message));
                        }
                      }}
                    >
                      ×
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        {preview && (
          <div className="preview" data-testid="file-preview">
            <div className="preview-head">
              <strong>{preview.original_name}</strong>
              <button type="button" className="icon-button" aria-label="Close preview" onClick={() => setPreviewId(null)}>
                ×
              </button>
            </div>
            <Preview key={preview.id} file={preview} />
          </div>
        )}
      </div>
    </section>
  );
}
