// Hash routes, so a reload (or the shell's window) lands on the same screen:
// #/intake, #/cases, #/case/<case number or UUID>, #/review, #/settings, and the records of a
// kind with no screens of its own: #/records/<kind>, #/records/<kind>/new, #/records/<kind>/<id>.

import { useEffect, useState } from 'react';

export type Route =
  | { screen: 'intake' }
  | { screen: 'cases' }
  | { screen: 'case'; key: string }
  | { screen: 'review' }
  | { screen: 'settings' }
  | { screen: 'records'; kind: string; id: string | null };

export function parseRoute(hash: string): Route {
  const path = hash.replace(/^#\/?/, '');
  const [head, ...rest] = path.split('/');
  switch (head) {
    case 'intake':
      return { screen: 'intake' };
    case 'case':
      return rest.length && rest[0] ? { screen: 'case', key: decodeURIComponent(rest.join('/')) } : { screen: 'cases' };
    case 'review':
      return { screen: 'review' };
    case 'settings':
      return { screen: 'settings' };
    case 'records': {
      const [kind, ...id] = rest;
      if (!kind) return { screen: 'cases' };
      return { screen: 'records', kind: decodeURIComponent(kind), id: id.length ? decodeURIComponent(id.join('/')) : null };
    }
    default:
      return { screen: 'cases' };
  }
}

export function routeHash(route: Route): string {
  switch (route.screen) {
    case 'case':
      return `#/case/${encodeURIComponent(route.key)}`;
    case 'records':
      return `#/records/${encodeURIComponent(route.kind)}${route.id ? `/${encodeURIComponent(route.id)}` : ''}`;
    default:
      return `#/${route.screen}`;
  }
}

export function navigate(route: Route): void {
  const hash = routeHash(route);
  if (window.location.hash !== hash) window.location.hash = hash;
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(window.location.hash));
  useEffect(() => {
    const onChange = () => setRoute(parseRoute(window.location.hash));
    window.addEventListener('hashchange', onChange);
    return () => window.removeEventListener('hashchange', onChange);
  }, []);
  return route;
}
