// Showing a case's file: a full preview (images, STL scans) and a small thumbnail, shared by the
// Files tab and the chat's attachments. The bytes are read through the asset protocol.

import { lazy, Suspense, useEffect, useState } from 'react';

import { assetUrl, fileSrc, toApiError } from '../../api';
import type { FileRecord } from '../../bindings/FileRecord';
import type { Stored } from '../../bindings/Stored';

const StlViewer = lazy(() => import('./StlViewer'));

export const isStl = (f: FileRecord) => /\.stl$/i.test(f.original_name) || /(sla|stl|navistyle)/.test(f.mime_type);
export const isImage = (f: FileRecord) => f.mime_type.startsWith('image/') && !/hei[cf]/.test(f.mime_type);

/** A file's URL for the webview: undefined while asked, null when its bytes are not here yet. */
function useFileUrl(id: string): { src: string | null | undefined; error: string | null } {
  const [state, setState] = useState<{ id: string; src: string | null | undefined; error: string | null }>({
    id,
    src: undefined,
    error: null,
  });
  useEffect(() => {
    let live = true;
    fileSrc(id)
      .then((path) => live && setState({ id, src: path === null ? null : assetUrl(path), error: null }))
      .catch((e: unknown) => live && setState({ id, src: undefined, error: toApiError(e).message }));
    return () => {
      live = false;
    };
  }, [id]);
  return state.id === id ? state : { src: undefined, error: null };
}

export function Preview({ file }: { file: Stored<FileRecord> }) {
  const { src, error } = useFileUrl(file.id);
  if (error) return <p className="field-error">{error}</p>;
  if (src === undefined) return <p className="muted">Loading…</p>;
  if (src === null) {
    return <p className="muted">The file’s contents are not on this workstation, and it is not signed in to a sync server to fetch them.</p>;
  }
  if (isImage(file)) return <img className="image-preview" src={src} alt={file.original_name} data-testid="image-preview" />;
  if (isStl(file)) {
    return (
      <Suspense fallback={<p className="muted">Loading 3D preview…</p>}>
        <StlViewer url={src} name={file.original_name} />
      </Suspense>
    );
  }
  return <p className="muted">No preview for {file.mime_type} files.</p>;
}

/** A small picture of an image file; nothing for other files or bytes not here yet. */
export function Thumbnail({ file }: { file: Stored<FileRecord> }) {
  const { src } = useFileUrl(file.id);
  if (!isImage(file) || !src) return null;
  return <img className="thumbnail" src={src} alt="" data-testid="thumbnail" />;
}
