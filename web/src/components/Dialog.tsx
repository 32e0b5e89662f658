// A modal built on <dialog>: focus is trapped by the browser, Escape closes it.
import type { ComponentChildren } from 'preact';
import { useEffect, useRef } from 'preact/hooks';
import { X } from 'lucide-preact';

export function Modal(props: { title: string; onClose: () => void; children: ComponentChildren; wide?: boolean }) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const d = ref.current!;
    if (!d.open) d.showModal();
    const onCancel = (e: Event) => {
      e.preventDefault();
      props.onClose();
    };
    d.addEventListener('cancel', onCancel);
    return () => d.removeEventListener('cancel', onCancel);
  }, []);
  return (
    <dialog ref={ref} class={props.wide ? 'modal is-wide' : 'modal'} aria-label={props.title}>
      <header class="modal-head">
        <h2>{props.title}</h2>
        <button type="button" class="icon" aria-label="Close" title="Close" onClick={props.onClose}>
          <X size={18} aria-hidden="true" />
        </button>
      </header>
      <div class="modal-body">{props.children}</div>
    </dialog>
  );
}
