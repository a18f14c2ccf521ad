import { useCallback, useEffect, useReducer } from 'react';
import type { ApiResult } from '../preload/contract.js';
import { api } from './api.js';
import { initialState, reduce, selectedDrive, type UiAction } from './app-state.js';
import { DriveList } from './DriveList.js';
import { EraseDialog } from './EraseDialog.js';
import { KeyView } from './KeyView.js';
import { NoticeBanner } from './NoticeBanner.js';

/** Dispatches the value of a result, or its error as a notice. */
function settle<T>(result: ApiResult<T>, dispatch: (action: UiAction) => void, onValue: (value: T) => UiAction): void {
  dispatch(result.ok ? onValue(result.value) : { type: 'failed', error: result.error });
}

export function App() {
  const [state, dispatch] = useReducer(reduce, initialState);

  useEffect(() => {
    const unsubscribe = api.on('drivesChanged', (drives) => dispatch({ type: 'drives', drives }));
    void api.getAppInfo().then((r) => settle(r, dispatch, (info) => ({ type: 'info', info })));
    void api.listDrives().then((r) => settle(r, dispatch, (drives) => ({ type: 'drives', drives })));
    return unsubscribe;
  }, []);

  const erase = useCallback(async () => {
    const asked = state.confirming;
    if (!asked) return;
    const { drive, label } = asked;
    dispatch({ type: 'eraseStarted' });
    const confirmed = { device: drive.device, serial: drive.serial, size: drive.size, deviceNumber: drive.deviceNumber };
    settle(await api.eraseDrive({ driveId: drive.id, confirmed, label }), dispatch, (d) => ({ type: 'eraseDone', drive: d }));
  }, [state.confirming]);

  const drive = selectedDrive(state);
  return (
    <div className="layout">
      <header className="top">
        <h1>Bootkey</h1>
        <p className="tagline">USB boot keys that keep your files</p>
      </header>
      <nav className="drives" aria-label="Drives">
        <DriveList drives={state.drives} selectedId={state.selectedId} onSelect={(id) => dispatch({ type: 'select', id })} />
      </nav>
      <main className="content">
        {state.notice && <NoticeBanner notice={state.notice} onDismiss={() => dispatch({ type: 'dismissNotice' })} />}
        {drive ? (
          <KeyView
            drive={drive}
            info={state.info}
            busy={state.busy}
            onErase={(label) => dispatch({ type: 'askErase', label })}
          />
        ) : (
          <section className="empty" aria-labelledby="empty-title">
            <h2 id="empty-title">Choose a drive</h2>
            <p>Plug in a USB key and choose it from the list. Bootkey shows what is on it before changing anything.</p>
          </section>
        )}
      </main>
      {state.confirming && (
        <EraseDialog
          drive={state.confirming.drive}
          label={state.confirming.label}
          onCancel={() => dispatch({ type: 'cancelErase' })}
          onConfirm={() => void erase()}
        />
      )}
    </div>
  );
}
