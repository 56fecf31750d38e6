// The case list: every case in the store, 100k and more, virtualized — only the rows on screen
// exist, and pages of 200 are read by offset as they scroll into view. Filters, sort and
// full-text search are the core's (list_cases, search_cases); overdue is the core's verdict.

import { useVirtualizer } from '@tanstack/react-virtual';
import { type KeyboardEvent, useCallback, useEffect, useMemo, useRef, useState } from 'react';

import { listCases, searchCases, toApiError } from '../api';
import { pagesToDrop } from '../lib/pages';
import type { CaseQuery } from '../bindings/CaseQuery';
import type { CaseSort } from '../bindings/CaseSort';
import type { CaseSummary } from '../bindings/CaseSummary';
import type { SearchHit } from '../bindings/SearchHit';
import { useApp } from '../lib/app';
import { agoText, dateText, humanize } from '../lib/format';
import { navigate } from '../lib/route';

export const PAGE_SIZE = 200;
const ROW_HEIGHT = 30;

type Filters = {
  status: string[];
  priority: string[];
  due_from: string;
  due_to: string;
  assignee: string;
  overdue_only: boolean;
  include_deleted: boolean;
  sort: CaseSort;
  descending: boolean;
};

const NO_FILTERS: Filters = {
  status: [],
  priority: [],
  due_from: '',
  due_to: '',
  assignee: '',
  overdue_only: false,
  include_deleted: false,
  sort: 'due_date',
  descending: false,
};

const SORTS: Array<{ value: CaseSort; label: string }> = [
  { value: 'due_date', label: 'Due date' },
  { value: 'case_number', label: 'Case number' },
  { value: 'patient_name', label: 'Patient' },
  { value: 'status', label: 'Status' },
  { value: 'priority', label: 'Priority' },
  { value: 'created_at', label: 'Taken in' },
  { value: 'updated_at', label: 'Last change' },
];

/** Kept while the app runs, so that going back to the list finds it as it was left. */
const remembered = { filters: NO_FILTERS, search: '', active: 0 };

export function queryFor(f: Filters, offset: number): CaseQuery {
  const text = (s: string) => (s.trim() === '' ? null : s.trim());
  return {
    status: f.status,
    priority: f.priority,
    due_from: text(f.due_from),
    due_to: text(f.due_to),
    assignee: text(f.assignee),
    parent: null,
    overdue_only: f.overdue_only,
    include_deleted: f.include_deleted,
    sort: f.sort,
    descending: f.descending,
    offset,
    limit: PAGE_SIZE,
  };
}

function useDebounced<T>(value: T, ms: number): T {
  const [v, setV] = useState(value);
  useEffect(() => {
    const t = setTimeout(() => setV(value), ms);
    return () => clearTimeout(t);
  }, [value, ms]);
  return v;
}

function Chips({
  label,
  options,
  selected,
  onChange,
  testId,
}: {
  label: string;
  options: string[];
  selected: string[];
  onChange: (v: string[]) => void;
  testId: string;
}) {
  return (
    <div className="chips" role="group" aria-label={label} data-testid={testId}>
      <span className="chips-label">{label}</span>
      {options.map((o) => {
        const on = selected.includes(o);
        return (
          <button
            type="button"
            key={o}
            className={`chip ${on ? 'on' : ''}`}
            aria-pressed={on}
            onClick={() => onChange(on ? selected.filter((s) => s !== o) : [...selected, o])}
          >
            {humanize(o)}
          </button>
        );
      })}
    </div>
  );
}

export function StatusBadge({ status }: { status: string }) {
  return <span className={`badge status status-${status.replace(/[^a-z0-9_-]/gi, '')}`}>{humanize(status)}</span>;
}

export function PriorityBadge({ priority }: { priority: string }) {
  return (
    <span className={`badge priority priority-${priority.replace(/[^a-z0-9_-]/gi, '')}`}>{humanize(priority)}</span>
  );
}

/** `[word]` marks in a search snippet, as <mark>. */
function Snippet({ text }: { text: string }) {
  const parts = text.split(/(\[[^\]]*\])/g);
  return (
    <span className="snippet">
      {parts.map((p, i) => (p.startsWith('[') && p.endsWith(']') ? <mark key={i}>{p.slice(1, -1)}</mark> : p))}
    </span>
  );
}

export function CaseList() {
  const { vocabulary, storeEpoch } = useApp();
  const [filters, setFilters] = useState<Filters>(remembered.filters);
  const [search, setSearch] = useState(remembered.search);
  const [active, setActive] = useState(remembered.active);
  const [error, setError] = useState<string | null>(null);
  const [total, setTotal] = useState<number | null>(null);
  const [hits, setHits] = useState<SearchHit[] | null>(null);
  const [, setPagesVersion] = useState(0);
  const pages = useRef(new Map<number, CaseSummary[]>());
  const loading = useRef(new Set<number>());
  const generation = useRef(0);
  const scrollRef = useRef<HTMLDivElement>(null);
  const searchRef = useRef<HTMLInputElement>(null);

  const debouncedFilters = useDebounced(filters, 150);
  const debouncedSearch = useDebounced(search.trim(), 200);
  const searching = debouncedSearch !== '';
  const filterKey = JSON.stringify(debouncedFilters);

  useEffect(() => {
    remembered.filters = filters;
    remembered.search = search;
    remembered.active = active;
  }, [filters, search, active]);

  const loadPage = useCallback(
    async (page: number, gen: number) => {
      if (loading.current.has(page)) return;
      loading.current.add(page);
      try {
        const result = await listCases(queryFor(JSON.parse(filterKey) as Filters, page * PAGE_SIZE));
        if (gen !== generation.current) return;
        pages.current.set(page, result.cases);
        setTotal(result.total);
        setError(null);
        setPagesVersion((v) => v + 1);
      } catch (e) {
        if (gen === generation.current) setError(toApiError(e).message);
      } finally {
        loading.current.delete(page);
      }
    },
    [filterKey],
  );

  // New filters, or the store changed (sync, scanner): start over from the first page, keeping
  // the rows on screen until their fresh copies arrive.
  useEffect(() => {
    if (searching) return;
    generation.current += 1;
    const gen = generation.current;
    loading.current.clear();
    const keep = new Set([0]);
    const el = scrollRef.current;
    if (el) {
      const first = Math.floor(el.scrollTop / ROW_HEIGHT);
      keep.add(Math.floor(first / PAGE_SIZE));
      keep.add(Math.floor((first + 60) / PAGE_SIZE));
    }
    for (const p of [...pages.current.keys()]) if (!keep.has(p)) pages.current.delete(p);
    for (const p of keep) void loadPage(p, gen);
  }, [filterKey, searching, storeEpoch, loadPage]);

  useEffect(() => {
    if (!searching) {
      setHits(null);
      return;
    }
    let live = true;
    searchCases(debouncedSearch, 200)
      .then((found) => {
        if (!live) return;
        setHits(found);
        setError(null);
        setActive(0);
      })
      .catch((e: unknown) => live && setError(toApiError(e).message));
    return () => {
      live = false;
    };
  }, [debouncedSearch, searching, storeEpoch]);

  const count = searching ? (hits?.length ?? 0) : (total ?? 0);
  // The virtualizer's functions change as it scrolls; nothing here is memoized by a compiler.
  // eslint-disable-next-line react-hooks/incompatible-library
  const virtualizer = useVirtualizer({
    count,
    getScrollElement: () => scrollRef.current,
    estimateSize: () => ROW_HEIGHT,
    overscan: 12,
    initialRect: { width: 1000, height: 600 },
  });
  const items = virtualizer.getVirtualItems();
  const firstIndex = items.length ? items[0].index : 0;
  const lastIndex = items.length ? items[items.length - 1].index : 0;

  // Read the pages the visible rows fall on, and let go of those far away.
  useEffect(() => {
    if (searching || total === null) return;
    const gen = generation.current;
    for (const p of pagesToDrop(pages.current.keys(), firstIndex, lastIndex, PAGE_SIZE)) pages.current.delete(p);
    for (let p = Math.floor(firstIndex / PAGE_SIZE); p <= Math.floor(lastIndex / PAGE_SIZE); p += 1) {
      if (!pages.current.has(p)) void loadPage(p, gen);
    }
  }, [firstIndex, lastIndex, searching, total, loadPage]);

  // Back from a case: the row it was opened from is in view again.
  const restored = useRef(false);
  useEffect(() => {
    if (restored.current || searching || total === null) return;
    restored.current = true;
    if (active > 0 && active < total) virtualizer.scrollToIndex(active, { align: 'center' });
  }, [total, searching, active, virtualizer]);

  const rowAt = (index: number): { summary: CaseSummary | null; hit: SearchHit | null } => {
    if (searching) {
      const hit = hits?.[index] ?? null;
      return { summary: hit?.case ?? null, hit };
    }
    return { summary: pages.current.get(Math.floor(index / PAGE_SIZE))?.[index % PAGE_SIZE] ?? null, hit: null };
  };

  const open = (summary: CaseSummary | null) => {
    if (summary) navigate({ screen: 'case', key: summary.case_number });
  };

  const move = (to: number) => {
    if (count === 0) return;
    const next = Math.max(0, Math.min(count - 1, to));
    setActive(next);
    virtualizer.scrollToIndex(next, { align: 'auto' });
  };

  const onListKey = (e: KeyboardEvent) => {
    const pageRows = Math.max(1, Math.floor((scrollRef.current?.clientHeight ?? 600) / ROW_HEIGHT) - 1);
    const keys: Record<string, () => void> = {
      ArrowDown: () => move(active + 1),
      ArrowUp: () => move(active - 1),
      PageDown: () => move(active + pageRows),
      PageUp: () => move(active - pageRows),
      Home: () => move(0),
      End: () => move(count - 1),
      Enter: () => open(rowAt(active).summary),
    };
    const action = keys[e.key];
    if (action) {
      e.preventDefault();
      action();
    }
  };

  // "/" anywhere on the list focuses the search box.
  useEffect(() => {
    const onKey = (e: globalThis.KeyboardEvent) => {
      const target = e.target as HTMLElement | null;
      const typing = target && (target.tagName === 'INPUT' || target.tagName === 'TEXTAREA' || target.isContentEditable);
      if (e.key === '/' && !typing) {
        e.preventDefault();
        searchRef.current?.focus();
        searchRef.current?.select();
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, []);

  const set = (patch: Partial<Filters>) => {
    setFilters((f) => ({ ...f, ...patch }));
    setActive(0);
  };
  const filtered = JSON.stringify(filters) !== JSON.stringify({ ...NO_FILTERS, sort: filters.sort, descending: filters.descending });
  const sortBy = (sort: CaseSort) =>
    set(filters.sort === sort ? { descending: !filters.descending } : { sort, descending: false });
  const countText = useMemo(() => {
    if (searching) return hits === null ? 'Searching…' : `${hits.length.toLocaleString('en')}${hits.length === 200 ? '+' : ''} found`;
    if (total === null) return 'Loading…';
    return `${total.toLocaleString('en')} case${total === 1 ? '' : 's'}${filtered ? ' match' : ''}`;
  }, [searching, hits, total, filtered]);

  const header = (label: string, sort: CaseSort | null, className: string) => (
    <div className={`cell ${className}`} role="columnheader" aria-sort={sort && filters.sort === sort ? (filters.descending ? 'descending' : 'ascending') : undefined}>
      {sort && !searching ? (
        <button type="button" className="sort-button" onClick={() => sortBy(sort)}>
          {label}
          {filters.sort === sort ? (filters.descending ? ' ▼' : ' ▲') : ''}
        </button>
      ) : (
        label
      )}
    </div>
  );

  return (
    <div className="screen case-list-screen" data-testid="cases">
      <div className="list-toolbar">
        <input
          ref={searchRef}
          type="search"
          className="search"
          data-testid="search"
          placeholder="Search case numbers, patients, services, chat…  ( / )"
          aria-label="Search cases"
          value={search}
          onChange={(e) => setSearch(e.target.value)}
          onKeyDown={(e) => {
            if (e.key === 'Escape') setSearch('');
            if (e.key === 'ArrowDown' || e.key === 'Enter') {
              e.preventDefault();
              if (e.key === 'Enter' && count > 0) open(rowAt(active).summary);
              else scrollRef.current?.focus();
            }
          }}
        />
        <span className="count" data-testid="case-count" aria-live="polite">
          {countText}
        </span>
        <label className="inline">
          Sort
          <select
            value={filters.sort}
            onChange={(e) => set({ sort: e.target.value as CaseSort })}
            disabled={searching}
            data-testid="sort"
          >
            {SORTS.map((s) => (
              <option key={s.value} value={s.value}>
                {s.label}
              </option>
            ))}
          </select>
        </label>
        <button
          type="button"
          onClick={() => set({ descending: !filters.descending })}
          disabled={searching}
          aria-label={filters.descending ? 'Descending; switch to ascending' : 'Ascending; switch to descending'}
          data-testid="sort-direction"
        >
          {filters.descending ? '▼ Desc' : '▲ Asc'}
        </button>
      </div>
      <div className={`filters ${searching ? 'disabled' : ''}`} data-testid="filters">
        <Chips label="Status" options={vocabulary.statuses} selected={filters.status} onChange={(status) => set({ status })} testId="filter-status" />
        <Chips label="Priority" options={vocabulary.priorities} selected={filters.priority} onChange={(priority) => set({ priority })} testId="filter-priority" />
        <div className="filter-row">
          <label className="inline">
            Due from
            <input value={filters.due_from} placeholder="YYYY-MM-DD" size={11} onChange={(e) => set({ due_from: e.target.value })} data-testid="filter-due-from" />
          </label>
          <label className="inline">
            to
            <input value={filters.due_to} placeholder="YYYY-MM-DD" size={11} onChange={(e) => set({ due_to: e.target.value })} data-testid="filter-due-to" />
          </label>
          <label className="inline">
            Assignee
            <input value={filters.assignee} placeholder="anyone" size={10} onChange={(e) => set({ assignee: e.target.value })} data-testid="filter-assignee" />
          </label>
          <label className="inline check">
            <input type="checkbox" checked={filters.overdue_only} onChange={(e) => set({ overdue_only: e.target.checked })} data-testid="filter-overdue" />
            Overdue only
          </label>
          <label className="inline check">
            <input type="checkbox" checked={filters.include_deleted} onChange={(e) => set({ include_deleted: e.target.checked })} />
            Show deleted
          </label>
          {filtered && (
            <button type="button" className="link-button" onClick={() => set({ ...NO_FILTERS, sort: filters.sort, descending: filters.descending })}>
              Clear filters
            </button>
          )}
          {searching && <span className="muted">Filters apply to the list, not to search.</span>}
        </div>
      </div>
      {error && (
        <div className="notice error" role="alert" data-testid="list-error">
          {error}
        </div>
      )}
      <div className={`table case-table ${searching ? 'searching' : ''}`} role="table" aria-label="Cases" aria-rowcount={count}>
        <div className="row head" role="row">
          {header('Case', 'case_number', 'c-number')}
          {header('Patient', 'patient_name', 'c-patient')}
          {header('Status', 'status', 'c-status')}
          {header('Priority', 'priority', 'c-priority')}
          {header('Due', 'due_date', 'c-due')}
          {header('Assignees', null, 'c-assignees')}
          {searching ? header('Found in', null, 'c-extra') : header('Last change', 'updated_at', 'c-extra')}
        </div>
        <div
          ref={scrollRef}
          className="rows-viewport"
          data-testid="case-list"
          tabIndex={0}
          role="rowgroup"
          onKeyDown={onListKey}
        >
          <div style={{ height: virtualizer.getTotalSize(), position: 'relative' }}>
            {items.map((item) => {
              const { summary, hit } = rowAt(item.index);
              const classes = ['row', 'body-row'];
              if (item.index === active) classes.push('active');
              if (summary?.overdue) classes.push('overdue');
              if (summary?.deleted) classes.push('deleted');
              return (
                <div
                  key={item.key}
                  className={classes.join(' ')}
                  role="row"
                  aria-rowindex={item.index + 1}
                  aria-selected={item.index === active}
                  data-testid={summary ? 'case-row' : 'case-row-loading'}
                  data-case-number={summary?.case_number}
                  data-overdue={summary?.overdue ? 'true' : undefined}
                  style={{ position: 'absolute', top: 0, left: 0, right: 0, height: ROW_HEIGHT, transform: `translateY(${item.start}px)` }}
                  onClick={() => {
                    setActive(item.index);
                    open(summary);
                  }}
                >
                  {summary ? (
                    <>
                      <div className="cell c-number mono">{summary.case_number}</div>
                      <div className="cell c-patient">{summary.patient_name}</div>
                      <div className="cell c-status">
                        <StatusBadge status={summary.status} />
                        {summary.deleted && <span className="badge deleted-badge">deleted</span>}
                      </div>
                      <div className="cell c-priority">
                        <PriorityBadge priority={summary.priority} />
                      </div>
                      <div className="cell c-due mono">
                        {dateText(summary.due_date) || '—'}
                        {summary.overdue && <span className="overdue-tag">overdue</span>}
                      </div>
                      <div className="cell c-assignees">{summary.assignees.join(', ') || '—'}</div>
                      <div className="cell c-extra">
                        {hit ? (
                          <>
                            <span className="badge">{hit.matched_in}</span> <Snippet text={hit.snippet} />
                          </>
                        ) : (
                          <span className="muted" title={summary.updated_at}>
                            {agoText(summary.updated_at)}
                          </span>
                        )}
                      </div>
                    </>
                  ) : (
                    <div className="cell muted">Loading…</div>
                  )}
                </div>
              );
            })}
          </div>
          {count === 0 && (searching ? hits !== null : total !== null) && !error && (
            <div className="empty" data-testid="list-empty">
              {searching ? `Nothing matches “${debouncedSearch}”.` : filtered ? 'No case matches these filters.' : 'No cases yet. Take one in with New case (Alt+N).'}
            </div>
          )}
        </div>
      </div>
    </div>
  );
}
