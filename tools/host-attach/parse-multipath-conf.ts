/**
 * multipath.conf syntax (multipath.conf(5) of multipath-tools 0.9): sections
 * `name {` ... `}`, one `keyword value` per line, values with blanks in double
 * quotes, comments from a `#` or `!` that starts a word. `checkMultipathConf`
 * finds what multipathd would reject or ignore: unbalanced braces, sections
 * or keywords it does not know where they stand, missing or unquoted values.
 */

export interface ConfNode {
  name: string;
  /** The value of a keyword line (quotes removed); undefined for a section. */
  value?: string;
  line: number;
  children?: ConfNode[];
}

/** Keywords multipath-tools 0.9 accepts in `defaults`. */
export const DEFAULTS_KEYWORDS = new Set([
  'verbosity', 'polling_interval', 'max_polling_interval', 'reassign_maps', 'multipath_dir', 'path_selector',
  'path_grouping_policy', 'uid_attrs', 'uid_attribute', 'getuid_callout', 'prio', 'prio_args', 'features',
  'path_checker', 'alias_prefix', 'failback', 'rr_min_io', 'rr_min_io_rq', 'max_fds', 'rr_weight', 'no_path_retry',
  'queue_without_daemon', 'checker_timeout', 'allow_usb_devices', 'flush_on_last_del', 'user_friendly_names',
  'fast_io_fail_tmo', 'dev_loss_tmo', 'eh_deadline', 'bindings_file', 'wwids_file', 'prkeys_file', 'log_checker_err',
  'reservation_key', 'all_tg_pt', 'retain_attached_hw_handler', 'detect_prio', 'detect_checker', 'force_sync',
  'strict_timing', 'deferred_remove', 'partition_delimiter', 'config_dir', 'san_path_err_threshold',
  'san_path_err_forget_rate', 'san_path_err_recovery_time', 'marginal_path_double_failed_time',
  'marginal_path_err_sample_time', 'marginal_path_err_rate_threshold', 'marginal_path_err_recheck_gap_time',
  'delay_watch_checks', 'delay_wait_checks', 'marginal_pathgroups', 'find_multipaths', 'find_multipaths_timeout',
  'uxsock_timeout', 'retrigger_tries', 'retrigger_delay', 'missing_uev_wait_timeout', 'skip_kpartx',
  'disable_changed_wwids', 'remove_retries', 'max_sectors_kb', 'ghost_delay', 'enable_foreign', 'recheck_wwid',
]);

/** Keywords of a `devices { device { ... } }` entry. */
export const DEVICE_KEYWORDS = new Set([
  'vendor', 'product', 'revision', 'product_blacklist', 'alias_prefix', 'vpd_vendor', 'hardware_handler',
  'path_grouping_policy', 'uid_attribute', 'getuid_callout', 'path_selector', 'path_checker', 'prio', 'prio_args',
  'features', 'failback', 'rr_weight', 'no_path_retry', 'rr_min_io', 'rr_min_io_rq', 'fast_io_fail_tmo', 'dev_loss_tmo',
  'eh_deadline', 'flush_on_last_del', 'user_friendly_names', 'retain_attached_hw_handler', 'detect_prio',
  'detect_checker', 'deferred_remove', 'san_path_err_threshold', 'san_path_err_forget_rate',
  'san_path_err_recovery_time', 'marginal_path_err_sample_time', 'marginal_path_err_rate_threshold',
  'marginal_path_err_recheck_gap_time', 'marginal_path_double_failed_time', 'delay_watch_checks', 'delay_wait_checks',
  'skip_kpartx', 'max_sectors_kb', 'ghost_delay', 'all_tg_pt',
]);

const MULTIPATH_KEYWORDS = new Set([
  'wwid', 'alias', 'path_grouping_policy', 'path_selector', 'prio', 'prio_args', 'failback', 'rr_weight',
  'no_path_retry', 'rr_min_io', 'rr_min_io_rq', 'flush_on_last_del', 'features', 'reservation_key',
  'user_friendly_names', 'deferred_remove', 'san_path_err_threshold', 'san_path_err_forget_rate',
  'san_path_err_recovery_time', 'marginal_path_err_sample_time', 'marginal_path_err_rate_threshold',
  'marginal_path_err_recheck_gap_time', 'marginal_path_double_failed_time', 'delay_watch_checks', 'delay_wait_checks',
  'skip_kpartx', 'max_sectors_kb', 'ghost_delay',
]);

const BLACKLIST_KEYWORDS = new Set(['devnode', 'wwid', 'property', 'protocol']);
const PROTOCOL_KEYWORDS = new Set(['type', 'fast_io_fail_tmo', 'dev_loss_tmo', 'eh_deadline']);

interface SectionRule {
  keywords: Set<string>;
  sections: Record<string, SectionRule>;
  /** Sections that hold only subsections (devices, multipaths). */
  container?: boolean;
}

const DEVICE_RULE: SectionRule = { keywords: DEVICE_KEYWORDS, sections: {} };
const BLACKLIST_DEVICE_RULE: SectionRule = { keywords: new Set(['vendor', 'product']), sections: {} };
const BLACKLIST_RULE: SectionRule = { keywords: BLACKLIST_KEYWORDS, sections: { device: BLACKLIST_DEVICE_RULE } };

const TOP: SectionRule = {
  keywords: new Set(),
  container: true,
  sections: {
    defaults: { keywords: DEFAULTS_KEYWORDS, sections: {} },
    blacklist: BLACKLIST_RULE,
    blacklist_exceptions: BLACKLIST_RULE,
    devices: { keywords: new Set(), sections: { device: DEVICE_RULE }, container: true },
    multipaths: { keywords: new Set(), sections: { multipath: { keywords: MULTIPATH_KEYWORDS, sections: {} } }, container: true },
    overrides: {
      keywords: new Set([...DEVICE_KEYWORDS].filter((k) => !['vendor', 'product', 'revision', 'product_blacklist', 'vpd_vendor', 'hardware_handler'].includes(k))),
      sections: { protocol: { keywords: PROTOCOL_KEYWORDS, sections: {} } },
    },
  },
};

interface Token {
  text: string;
  quoted: boolean;
}

function tokenize(line: string): { tokens: Token[]; error?: string } {
  const tokens: Token[] = [];
  let i = 0;
  while (i < line.length) {
    const c = line[i]!;
    if (c === ' ' || c === '\t') {
      i++;
      continue;
    }
    if (c === '#' || c === '!') break;
    if (c === '{' || c === '}') {
      tokens.push({ text: c, quoted: false });
      i++;
      continue;
    }
    if (c === '"') {
      const end = line.indexOf('"', i + 1);
      if (end < 0) return { tokens, error: 'unterminated "' };
      tokens.push({ text: line.slice(i + 1, end), quoted: true });
      i = end + 1;
      continue;
    }
    let j = i;
    while (j < line.length && !' \t{}"'.includes(line[j]!)) j++;
    tokens.push({ text: line.slice(i, j), quoted: false });
    i = j;
  }
  return { tokens };
}

export interface ConfCheck {
  nodes: ConfNode[];
  errors: string[];
}

export function parseMultipathConf(text: string): ConfCheck {
  const errors: string[] = [];
  const root: ConfNode = { name: '', line: 0, children: [] };
  const stack: Array<{ node: ConfNode; rule: SectionRule | undefined }> = [{ node: root, rule: TOP }];
  text.split(/\r?\n/).forEach((raw, idx) => {
    const lineNo = idx + 1;
    const { tokens, error } = tokenize(raw);
    if (error) errors.push(`line ${lineNo}: ${error}`);
    if (tokens.length === 0) return;
    const top = stack[stack.length - 1]!;
    const first = tokens[0]!;
    if (!first.quoted && first.text === '}') {
      if (stack.length === 1) errors.push(`line ${lineNo}: '}' without an open section`);
      else stack.pop();
      if (tokens.length > 1) errors.push(`line ${lineNo}: text after '}'`);
      return;
    }
    const last = tokens[tokens.length - 1]!;
    if (!last.quoted && last.text === '{') {
      if (tokens.length !== 2 || first.quoted) {
        errors.push(`line ${lineNo}: a section starts with its name and '{' alone`);
      }
      const rule = top.rule?.sections[first.text];
      if (top.rule && !rule) errors.push(`line ${lineNo}: unknown section '${first.text}' in ${top.node.name || 'the top level'}`);
      const node: ConfNode = { name: first.text, line: lineNo, children: [] };
      top.node.children!.push(node);
      stack.push({ node, rule });
      return;
    }
    if (tokens.some((t) => !t.quoted && (t.text === '{' || t.text === '}'))) {
      errors.push(`line ${lineNo}: braces must stand at the end of a section line or alone`);
      return;
    }
    if (top.rule) {
      if (top.rule.container || stack.length === 1) {
        errors.push(`line ${lineNo}: keyword '${first.text}' outside a section that takes keywords`);
      } else if (!top.rule.keywords.has(first.text)) {
        errors.push(`line ${lineNo}: unknown keyword '${first.text}' in section ${top.node.name}`);
      }
    }
    if (tokens.length < 2) errors.push(`line ${lineNo}: keyword '${first.text}' has no value`);
    else if (tokens.length > 2) errors.push(`line ${lineNo}: value of '${first.text}' has blanks: put it in double quotes`);
    top.node.children!.push({ name: first.text, value: tokens[1]?.text, line: lineNo });
  });
  if (stack.length > 1) errors.push(`section '${stack[stack.length - 1]!.node.name}' (line ${stack[stack.length - 1]!.node.line}) is not closed`);
  return { nodes: root.children!, errors };
}

/** The `device` entries of all `devices` sections. */
export function deviceEntries(nodes: ConfNode[]): Array<Map<string, string>> {
  const out: Array<Map<string, string>> = [];
  for (const s of nodes) {
    if (s.name !== 'devices') continue;
    for (const d of s.children ?? []) {
      if (d.name !== 'device' || !d.children) continue;
      out.push(new Map(d.children.filter((k) => k.value !== undefined).map((k) => [k.name, k.value!])));
    }
  }
  return out;
}
