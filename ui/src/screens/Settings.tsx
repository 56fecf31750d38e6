// Settings: this workstation, signing in to the lab's server, and the scanner folder.

import { type FormEvent, useState } from 'react';

import { chooseFolder, setScannerFolder, signIn, signOut, syncNow, toApiError } from '../api';
import { useApp } from '../lib/app';

export function Settings() {
  const { info, sync, reloadInfo } = useApp();
  const [server, setServer] = useState(info.server_url ?? '');
  const [token, setToken] = useState('');
  const [busy, setBusy] = useState(false);
  const [signInError, setSignInError] = useState<string | null>(null);
  const [signInNote, setSignInNote] = useState<string | null>(null);
  const [folder, setFolder] = useState(info.scanner_folder ?? '');
  const [folderError, setFolderError] = useState<string | null>(null);
  const [folderNote, setFolderNote] = useState<string | null>(null);
  const signedIn = sync?.signed_in ?? info.signed_in;

  const submitSignIn = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setSignInError(null);
    setSignInNote(null);
    try {
      await signIn(server.trim(), token.trim());
      setToken('');
      setSignInNote('Signed in. Syncing starts now.');
      await reloadInfo();
      void syncNow().catch(() => undefined);
    } catch (err) {
      setSignInError(toApiError(err).message);
    } finally {
      setBusy(false);
    }
  };

  const saveFolder = async (path: string | null) => {
    setFolderError(null);
    setFolderNote(null);
    try {
      await setScannerFolder(path);
      setFolder(path ?? '');
      setFolderNote(path ? `Watching ${path}: scans named after a case number are attached to it.` : 'No scanner folder.');
      await reloadInfo();
    } catch (err) {
      setFolderError(toApiError(err).message);
    }
  };

  return (
    <div className="screen settings" data-testid="settings">
      <header className="screen-header">
        <h1>Settings</h1>
      </header>
      <section className="panel">
        <h2>This workstation</h2>
        <dl className="facts">
          <dt>Workstation</dt>
          <dd className="mono" data-testid="settings-workstation">{info.workstation}</dd>
          <dt>User</dt>
          <dd>{info.user}</dd>
          <dt>Data folder</dt>
          <dd className="mono">{info.data_dir}</dd>
          <dt>LabDesk</dt>
          <dd>version {info.version}</dd>
        </dl>
      </section>

      <section className="panel">
        <h2>Lab server</h2>
        {signedIn ? (
          <p data-testid="settings-signed-in">
            Signed in to <span className="mono">{sync?.server_url ?? info.server_url}</span>
            {sync?.token_store === 'file' && ' — no keychain was found, so the token is kept in the data folder (readable by you only)'}
            {sync?.token_store === 'keychain' && ' — the token is kept in the system keychain'}.{' '}
            <button
              type="button"
              data-testid="settings-signout"
              onClick={() => {
                signOut()
                  .then(() => reloadInfo())
                  .catch((err: unknown) => setSignInError(toApiError(err).message));
              }}
            >
              Sign out
            </button>
          </p>
        ) : (
          <p className="muted">Not signed in: everything works on this workstation and waits to be sent.</p>
        )}
        <form className="settings-form" onSubmit={submitSignIn}>
          <div className="field">
            <label htmlFor="server">Server address</label>
            <input
              id="server"
              data-testid="settings-server"
              value={server}
              placeholder="https://hq.example:7400"
              onChange={(e) => setServer(e.target.value)}
            />
          </div>
          <div className="field">
            <label htmlFor="token">Token</label>
            <input
              id="token"
              type="password"
              autoComplete="off"
              data-testid="settings-token"
              value={token}
              placeholder="ldk_…"
              onChange={(e) => setToken(e.target.value)}
            />
            <span className="field-hint">From your lab manager (labdesk-sync setup prints it once).</span>
          </div>
          <div className="form-actions">
            <button type="submit" className="primary" disabled={busy} data-testid="settings-signin">
              {busy ? 'Signing in…' : signedIn ? 'Sign in again' : 'Sign in'}
            </button>
          </div>
          {signInError && (
            <div className="notice error" role="alert" data-testid="settings-error">
              {signInError}
            </div>
          )}
          {signInNote && <div className="notice success" role="status">{signInNote}</div>}
        </form>
      </section>

      <section className="panel">
        <h2>Scanner folder</h2>
        <p className="muted">Files the scanner saves here are attached to the case their name begins with (FD1-000042-upper.stl).</p>
        <div className="settings-form">
          <div className="field">
            <label htmlFor="scanner">Folder</label>
            <div className="pair">
              <input
                id="scanner"
                data-testid="settings-scanner"
                value={folder}
                placeholder="none"
                onChange={(e) => setFolder(e.target.value)}
              />
              <button
                type="button"
                onClick={() => {
                  chooseFolder()
                    .then((p) => p && setFolder(p))
                    .catch((err: unknown) => setFolderError(toApiError(err).message));
                }}
              >
                Choose…
              </button>
            </div>
          </div>
          <div className="form-actions">
            <button
              type="button"
              className="primary"
              data-testid="settings-scanner-save"
              disabled={folder.trim() === (info.scanner_folder ?? '')}
              onClick={() => void saveFolder(folder.trim() || null)}
            >
              Save
            </button>
            <button type="button" disabled={!info.scanner_folder} onClick={() => void saveFolder(null)}>
              Stop watching
            </button>
          </div>
          {folderError && <div className="notice error" role="alert">{folderError}</div>}
          {folderNote && <div className="notice success" role="status">{folderNote}</div>}
        </div>
      </section>
    </div>
  );
}
