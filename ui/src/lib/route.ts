// Hash routes, so a reload (or the shell's window) lands on the same screen:
// #/intake, #/cases, #/case/<case number or UUID>, #/review, #/settings.

import { useEffect, useState } from 'react';

export type Route =
  | { screen: 'intake' }
  | { screen: 'cases' }
  | { screen: 'case'; key: string }
  | { screen: 'review' }
  | { screen: 'settings' };

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
    default:
      return { screen: 'cases' };
  }
}

export function routeHash(route: Route): string {
  return route.screen === 'case' ? `#/case/${encodeURIComponent(route.key)}` : `#/${route.screen}`;
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
