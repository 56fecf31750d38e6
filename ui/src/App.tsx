// The window: navigation on the left, the screen, and the sync status always at the bottom.

import { useCallback, useEffect, useMemo, useState } from 'react';

import {
  appInfo,
  onScannedFile,
  onStoreChanged,
  onSyncStatus,
  syncStatus,
  toApiError,
  vocabulary as loadVocabulary,
} from './api';
import type { AppInfo } from './bindings/AppInfo';
import type { SyncStatus } from './bindings/SyncStatus';
import type { Vocabulary } from './bindings/Vocabulary';
import { SyncBar } from './components/SyncBar';
import { type Toast, Toasts, toastForScan } from './components/Toasts';
import { capitalized } from './components/records/recordForm';
import { AppContext, type AppState } from './lib/app';
import { navigate, type Route, useRoute } from './lib/route';
import { CaseList } from './screens/CaseList';
import { CaseScreen } from './screens/CaseScreen';
import { Intake } from './screens/Intake';
import { generatedKinds, Records, recordsHash, useRecordKinds } from './screens/Records';
import { Review } from './screens/Review';
import { Settings } from './screens/Settings';

const NAV: Array<{ screen: Route['screen']; label: string; key: string; testId: string }> = [
  { screen: 'intake', label: 'New case', key: 'n', testId: 'nav-intake' },
  { screen: 'cases', label: 'Cases', key: 'l', testId: 'nav-cases' },
  { screen: 'review', label: 'Review', key: 'r', testId: 'nav-review' },
  { screen: 'settings', label: 'Settings', key: 's', testId: 'nav-settings' },
];

export function App() {
  const route = useRoute();
  // Kinds with no screens of their own get the generic ones (screens/Records.tsx).
  const records = route.screen === 'records' ? route : null;
  const kinds = useRecordKinds();
  const [info, setInfo] = useState<AppInfo | null>(null);
  const [vocabulary, setVocabulary] = useState<Vocabulary | null>(null);
  const [sync, setSync] = useState<SyncStatus | null>(null);
  const [storeEpoch, setStoreEpoch] = useState(0);
  const [fatal, setFatal] = useState<string | null>(null);
  const [toasts, setToasts] = useState<Toast[]>([]);
  const dismiss = useCallback((id: number) => setToasts((t) => t.filter((x) => x.id !== id)), []);

  const reloadInfo = useCallback(async () => {
    setInfo(await appInfo());
    setSync(await syncStatus());
  }, []);

  useEffect(() => {
    Promise.all([appInfo(), loadVocabulary()])
      .then(([i, v]) => {
        setInfo(i);
        setVocabulary(v);
      })
      .catch((e: unknown) => setFatal(toApiError(e).message));
    syncStatus()
      .then(setSync)
      .catch(() => undefined);
    const stops: Array<Promise<() => void>> = [
      onSyncStatus(setSync),
      onStoreChanged(() => setStoreEpoch((n) => n + 1)),
      onScannedFile((file) => setToasts((t) => [...t.slice(-4), toastForScan(file)])),
    ];
    return () => {
      for (const stop of stops) stop.then((f) => f()).catch(() => undefined);
    };
  }, []);

  // Alt+N new case, Alt+L cases, Alt+R review, Alt+S settings.
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (!e.altKey || e.ctrlKey || e.metaKey) return;
      const item = NAV.find((n) => n.key === e.key.toLowerCase());
      if (item) {
        e.preventDefault();
        navigate({ screen: item.screen } as Route);
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, []);

  const state = useMemo<AppState | null>(
    () => (info && vocabulary ? { info, vocabulary, sync, reloadInfo, storeEpoch } : null),
    [info, vocabulary, sync, reloadInfo, storeEpoch],
  );

  if (fatal) {
    return (
      <div className="fatal" role="alert">
        <h1>LabDesk could not start</h1>
        <p>{fatal}</p>
      </div>
    );
  }
  if (!state) return <div className="splash">LabDesk…</div>;

  const current = route.screen === 'case' ? 'cases' : route.screen;
  return (
    <AppContext.Provider value={state}>
      <div className="app">
        <nav className="nav" aria-label="Main">
          <div className="brand" title={`LabDesk ${state.info.version}`}>
            LabDesk
            <span className="workstation">
              {state.info.workstation} · {state.info.user}
            </span>
          </div>
          {NAV.map((n) => (
            <a
              key={n.screen}
              href={`#/${n.screen}`}
              className={current === n.screen ? 'active' : ''}
              aria-current={current === n.screen ? 'page' : undefined}
              data-testid={n.testId}
              title={`Alt+${n.key.toUpperCase()}`}
            >
              {n.label}
              {n.screen === 'review' && sync && sync.needs_review + sync.rejected.length > 0 && (
                <span className="nav-count">{sync.needs_review + sync.rejected.length}</span>
              )}
              <kbd>Alt+{n.key.toUpperCase()}</kbd>
            </a>
          ))}
          {generatedKinds(kinds).map((k) => (
            <a
              key={k.name}
              href={recordsHash(k.name)}
              className={records?.kind === k.name ? 'active' : ''}
              aria-current={records?.kind === k.name ? 'page' : undefined}
              data-testid={`nav-records-${k.name}`}
            >
              {capitalized(k.plural)}
            </a>
          ))}
        </nav>
        <main className="main">
          {records ? (
            <Records kinds={kinds} route={records} />
          ) : (
            <>
              {route.screen === 'intake' && <Intake />}
              {route.screen === 'cases' && <CaseList />}
              {route.screen === 'case' && <CaseScreen key={route.key} caseKey={route.key} />}
              {route.screen === 'review' && <Review />}
              {route.screen === 'settings' && <Settings />}
            </>
          )}
        </main>
        <SyncBar status={sync} />
        <Toasts toasts={toasts} onDismiss={dismiss} />
      </div>
    </AppContext.Provider>
  );
}
