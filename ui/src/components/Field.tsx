// Form fields that show the core's problem with them inline. Field paths are the core's
// (`due_date`, `services[1].service_type`, `aligners[0].from`).

import type { ReactNode } from 'react';

/** Problems by field path, as the core named them. */
export type FieldErrors = Record<string, string>;

export const fieldId = (path: string) => `f-${path.replace(/[^A-Za-z0-9_-]/g, '_')}`;

/** The problem at `path`, and (with `nested`) those of the fields inside it. */
export function errorAt(errors: FieldErrors, path: string, nested = false): string | undefined {
  const found = Object.entries(errors)
    .filter(([f]) => f === path || (nested && (f.startsWith(`${path}.`) || f.startsWith(`${path}[`))))
    .map(([f, p]) => (f === path ? p : `${f.slice(path.length).replace(/^\./, '')}: ${p}`));
  return found.length ? found.join('; ') : undefined;
}

export function FieldError({ path, error }: { path: string; error: string | undefined }) {
  if (!error) return null;
  return (
    <span className="field-error" role="alert" data-testid="field-error" data-field={path}>
      {error}
    </span>
  );
}

type FieldProps = {
  label: string;
  path: string;
  error: string | undefined;
  hint?: ReactNode;
  className?: string;
  children: ReactNode;
};

export function Field({ label, path, error, hint, className, children }: FieldProps) {
  return (
    <div className={`field ${className ?? ''} ${error ? 'has-error' : ''}`}>
      <label htmlFor={fieldId(path)}>{label}</label>
      {children}
      {hint && !error ? <span className="field-hint">{hint}</span> : null}
      <FieldError path={path} error={error} />
    </div>
  );
}

type TextFieldProps = {
  label: string;
  path: string;
  value: string;
  onChange: (value: string) => void;
  errors: FieldErrors;
  /** Also show problems of fields inside this one. */
  nested?: boolean;
  placeholder?: string;
  hint?: ReactNode;
  className?: string;
  testId?: string;
  type?: 'text' | 'number' | 'password' | 'url' | 'tel';
  list?: string;
  autoFocus?: boolean;
  required?: boolean;
  multiline?: boolean;
  disabled?: boolean;
};

export function TextField(p: TextFieldProps) {
  const error = errorAt(p.errors, p.path, p.nested);
  const common = {
    id: fieldId(p.path),
    value: p.value,
    placeholder: p.placeholder,
    'data-testid': p.testId,
    'aria-invalid': error ? true : undefined,
    'aria-required': p.required ? true : undefined,
    autoFocus: p.autoFocus,
    disabled: p.disabled,
  };
  return (
    <Field label={p.required ? `${p.label} *` : p.label} path={p.path} error={error} hint={p.hint} className={p.className}>
      {p.multiline ? (
        <textarea {...common} rows={3} onChange={(e) => p.onChange(e.target.value)} />
      ) : (
        <input {...common} type={p.type ?? 'text'} list={p.list} onChange={(e) => p.onChange(e.target.value)} />
      )}
    </Field>
  );
}

/** Focuses the input of a field path, or of the nearest field that contains it. */
export function focusField(path: string): void {
  let p = path;
  for (;;) {
    const el = document.getElementById(fieldId(p));
    if (el) {
      el.focus();
      return;
    }
    const shorter = p.replace(/(\.[^.[\]]+|\[\d+\])$/, '');
    if (shorter === p || shorter === '') return;
    p = shorter;
  }
}

/** Every problem, listed above a form; each links to its field, by its label when given. */
export function ErrorSummary({
  message,
  errors,
  labels,
}: {
  message: string | null;
  errors: FieldErrors;
  labels?: Record<string, string>;
}) {
  const entries = Object.entries(errors);
  if (!message && entries.length === 0) return null;
  return (
    <div className="error-summary" role="alert" data-testid="form-error">
      <strong>{entries.length ? 'Not saved — please check:' : message}</strong>
      {entries.length > 0 && (
        <ul>
          {entries.map(([field, problem]) => (
            <li key={field}>
              <a
                href={`#${fieldId(field)}`}
                onClick={(e) => {
                  e.preventDefault();
                  focusField(field);
                }}
              >
                {labels?.[field] ?? field}
              </a>
              : {problem}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
