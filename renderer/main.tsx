import { createRoot } from 'react-dom/client';
import { App } from './App.js';

// A file dropped outside a drop area must not replace the page with the file (the browser's default).
for (const type of ['dragover', 'drop'] as const) window.addEventListener(type, (event) => event.preventDefault());

createRoot(document.getElementById('root')!).render(<App />);
