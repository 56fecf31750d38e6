// Short notices that something happened on its own (the scanner filed a scan). They go after a
// few seconds; errors stay until dismissed.

import { useEffect } from 'react';

import type { ScannedFile } from '../bindings/ScannedFile';
import { navigate } from '../lib/route';

export type Toast = { id: number; kind: 'info' | 'error'; text: string; caseNumber?: string };

let nextId = 1;

export function toastForScan(file: ScannedFile): Toast {
  const name = file.path.split(/[\\/]/).pop() ?? file.path;
  const id = nextId++;
  const o = file.outcome;
  if (!o) return { id, kind: 'error', text: `Scan ${name} was not taken in: ${file.error ?? 'unknown error'}` };
  switch (o.outcome) {
    case 'attached':
      return { id, kind: 'info', text: `Scan ${name} attached to ${o.case_number}`, caseNumber: o.case_number };
    case 'unknown_case':
      return { id, kind: 'error', text: `Scan ${name}: no case ${o.case_number} here (yet); left in the scanner folder` };
    case 'no_case_number':
      return { id, kind: 'error', text: `Scan ${name} does not begin with a case number; left in the scanner folder` };
  }
}

function ToastItem({ toast, onDismiss }: { toast: Toast; onDismiss: (id: number) => void }) {
  useEffect(() => {
    if (toast.kind === 'error') return;
    const t = setTimeout(() => onDismiss(toast.id), 6000);
    return () => clearTimeout(t);
  }, [toast, onDismiss]);
  return (
    <div className={`toast ${toast.kind}`} role={toast.kind === 'error' ? 'alert' : 'status'} data-testid="toast">
      <span>{toast.text}</span>
      {toast.caseNumber && (
        <button type="button" className="link-button" onClick={() => navigate({ screen: 'case', key: toast.caseNumber ?? '' })}>
          Open
        </button>
      )}
      <button type="button" className="icon-button" aria-label="Dismiss" onClick={() => onDismiss(toast.id)}>
        ×
      </button>
    </div>
  );
}

export function Toasts({ toasts, onDismiss }: { toasts: Toast[]; onDismiss: (id: number) => void }) {
  if (toasts.length === 0) return null;
  return (
    <div className="toasts" aria-live="polite">
      {toasts.map((t) => (
        <ToastItem key={t.id} toast={t} onDismiss={onDismiss} />
      ))}
    </div>
  );
}
