import { render, type RenderResult } from '@testing-library/react';
import type { ReactElement } from 'react';

import { App } from '../App';
import type { AppInfo } from '../bindings/AppInfo';
import type { Vocabulary } from '../bindings/Vocabulary';
import { AppContext, type AppState } from '../lib/app';
import { type FakeControl, type FakeOptions, installFakeBackend } from './fakeBackend';

/** The whole app on the fake backend, at `hash`. */
export function renderApp(hash: string, options: FakeOptions = {}): RenderResult & { fake: FakeControl } {
  installFakeBackend(options);
  window.location.hash = hash;
  const result = render(<App />);
  return { ...result, fake: (window as unknown as { __labdeskFake: FakeControl }).__labdeskFake };
}

export const testVocabulary: Vocabulary = {
  statuses: ['received', 'milling', 'delivered'],
  priorities: ['low', 'medium', 'rush'],
  stages: ['receiving', 'impression_scan', 'design', 'milling', 'sintering', 'quality_control', 'delivery'],
  meta_keys: ['patient_age'],
  message_types: ['text', 'image'],
  max_files_per_upload: 15,
  max_file_size: 200 * 1024 * 1024,
  allowed_formats: ['PNG', 'STL'],
  allowed_extensions: ['png', 'stl'],
};

export const testInfo: AppInfo = {
  version: '0.1.0',
  workstation: 'FD1',
  user: 'ann',
  data_dir: '/tmp/labdesk',
  server_url: null,
  signed_in: false,
  scanner_folder: null,
};

/** One component inside the app's context, without the rest of the app. */
export function renderInApp(ui: ReactElement, state: Partial<AppState> = {}): RenderResult {
  const value: AppState = {
    info: testInfo,
    vocabulary: testVocabulary,
    sync: null,
    reloadInfo: async () => undefined,
    storeEpoch: 0,
    ...state,
  };
  return render(<AppContext.Provider value={value}>{ui}</AppContext.Provider>);
}
