// What every screen needs: who and where we are, the core's vocabulary, and the sync status.

import { createContext, useContext } from 'react';

import type { AppInfo } from '../bindings/AppInfo';
import type { SyncStatus } from '../bindings/SyncStatus';
import type { Vocabulary } from '../bindings/Vocabulary';

export type AppState = {
  info: AppInfo;
  vocabulary: Vocabulary;
  /** null until the first answer. */
  sync: SyncStatus | null;
  /** Reads app_info again (after sign-in, a new scanner folder). */
  reloadInfo: () => Promise<void>;
  /** Bumped whenever the store may have changed under the screens (sync pulled, scanner filed). */
  storeEpoch: number;
};

export const AppContext = createContext<AppState | null>(null);

export function useApp(): AppState {
  const app = useContext(AppContext);
  if (!app) throw new Error('useApp outside <AppContext.Provider>');
  return app;
}
