// The keyboard shortcuts sheet (press ?).
import { dialog } from '../state/store';
import { Modal } from './Dialog';

const mac = typeof navigator !== 'undefined' && /Mac|iPhone|iPad/.test(navigator.platform);
const mod = mac ? '⌘' : 'Ctrl';

const GROUPS: [string, [string[], string][]][] = [
  [
    'Navigation',
    [
      [[mod, 'K'], 'Jump to a conversation or person'],
      [['Alt', '↑'], 'Previous conversation'],
      [['Alt', '↓'], 'Next conversation'],
      [[mod, 'Shift', 'F'], 'Search messages'],
      [['?'], 'This list of shortcuts'],
      [['Esc'], 'Close a panel, menu or dialog'],
    ],
  ],
  [
    'Messages',
    [
      [['↑'], 'In the message list: previous message (in an empty box: edit your last message)'],
      [['↓'], 'Next message'],
      [['Home'], 'First message shown'],
      [['End'], 'Last message shown'],
      [['Tab'], 'The focused message’s actions'],
      [['Esc'], 'Back to the message box'],
    ],
  ],
  [
    'Writing',
    [
      [['Enter'], 'Send'],
      [['Shift', 'Enter'], 'New line'],
      [['@'], 'Mention someone'],
      [[':'], 'Emoji by name'],
    ],
  ],
];

export function ShortcutsSheet() {
  return (
    <Modal title="Keyboard shortcuts" onClose={() => (dialog.value = null)} wide>
      <div class="shortcuts">
        {GROUPS.map(([title, rows]) => (
          <section key={title}>
            <h3>{title}</h3>
            <dl>
              {rows.map(([keys, what]) => (
                <div class="shortcut" key={what}>
                  <dt>
                    {keys.map((k, i) => (
                      <>
                        {i > 0 && ' + '}
                        <kbd>{k}</kbd>
                      </>
                    ))}
                  </dt>
                  <dd>{what}</dd>
                </div>
              ))}
            </dl>
          </section>
        ))}
      </div>
    </Modal>
  );
}
