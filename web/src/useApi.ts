import { useCallback, useEffect, useState } from 'react';
import { api } from './api.ts';

/** GET a path; `data` is null while loading (pages render placeholders of the final size). */
export function useApi<T>(path: string | null) {
  const [state, setState] = useState<{ data: T | null; error: unknown; path: string | null }>({ data: null, error: null, path: null });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    if (!path) return;
    let live = true;
    api<T>(path).then(
      (data) => live && setState({ data, error: null, path }),
      (error) => live && setState({ data: null, error, path }),
    );
    return () => {
      live = false;
    };
  }, [path, tick]);
  const reload = useCallback(() => setTick((x) => x + 1), []);
  const fresh = state.path === path;
  return { data: fresh ? state.data : null, error: fresh ? state.error : null, reload };
}
