// A button that opens a menu (the WAI-ARIA menu button pattern): Enter, Space or ↓ opens it on
// the first item (↑ on the last), ↑/↓ move (wrapping), Home/End go to the ends, Escape closes
// it and puts focus back on the button, Tab or a click outside closes it.
import type { ComponentChildren } from 'preact';
import { useLayoutEffect, useRef, useState } from 'preact/hooks';
import { menuMove } from '../menu';

export interface MenuItem {
  label: string;
  icon?: ComponentChildren;
  /** A toggle (role menuitemcheckbox) when set. */
  checked?: boolean;
  onSelect: () => void;
}

export function MenuButton(props: { label: string; title?: string; icon: ComponentChildren; menuLabel: string; items: MenuItem[]; class?: string }) {
  const [open, setOpen] = useState(false);
  const ref = useRef<HTMLDivElement>(null);
  const first = useRef<'first' | 'last'>('first');
  const button = () => ref.current?.querySelector<HTMLButtonElement>('.menu-toggle');
  const items = () => [...(ref.current?.querySelectorAll<HTMLElement>('[role^="menuitem"]') ?? [])];
  // A layout effect: the focus moves in the same task that shows the menu, so a key pressed as
  // soon as the menu is visible already lands on an item.
  useLayoutEffect(() => {
    if (!open) return;
    const all = items();
    (first.current === 'last' ? all[all.length - 1] : all[0])?.focus();
    const onDown = (e: PointerEvent) => {
      if (!ref.current?.contains(e.target as Node)) setOpen(false);
    };
    document.addEventListener('pointerdown', onDown, true);
    return () => document.removeEventListener('pointerdown', onDown, true);
  }, [open]);
  const close = (refocus: boolean) => {
    setOpen(false);
    if (refocus) button()?.focus();
  };
  const onKey = (e: KeyboardEvent) => {
    if (!open) {
      if ((e.key === 'ArrowDown' || e.key === 'ArrowUp') && e.target === button()) {
        e.preventDefault();
        first.current = e.key === 'ArrowUp' ? 'last' : 'first';
        setOpen(true);
      }
      return;
    }
    if (e.key === 'Escape') {
      e.preventDefault();
      e.stopPropagation();
      close(true);
      return;
    }
    if (e.key === 'Tab') {
      setOpen(false);
      return;
    }
    const all = items();
    const next = menuMove(e.key, all.indexOf(document.activeElement as HTMLElement), all.length);
    if (next !== null) {
      e.preventDefault();
      all[next].focus();
    }
  };
  return (
    <div class={`menu-button ${props.class ?? ''}`} ref={ref} onKeyDown={onKey}>
      <button
        type="button"
        class="icon menu-toggle"
        aria-label={props.label}
        title={props.title ?? props.label}
        aria-haspopup="menu"
        aria-expanded={open}
        onClick={() => {
          first.current = 'first';
          setOpen(!open);
        }}
      >
        {props.icon}
      </button>
      {open && (
        <div class="menu" role="menu" aria-label={props.menuLabel}>
          {props.items.map((it) => (
            <button
              key={it.label}
              type="button"
              role={it.checked === undefined ? 'menuitem' : 'menuitemcheckbox'}
              aria-checked={it.checked}
              tabIndex={-1}
              onClick={() => {
                close(true);
                it.onSelect();
              }}
            >
              {it.icon}
              <span>{it.label}</span>
            </button>
          ))}
        </div>
      )}
    </div>
  );
}
