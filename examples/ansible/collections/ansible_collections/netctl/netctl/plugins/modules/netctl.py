#!/usr/bin/python
# -*- coding: utf-8 -*-
# Apache License 2.0 (see LICENSE at the root of the netctl repository).

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: netctl
short_description: Make a host's container networking match a netctl file
description:
  - Installs a netctl file at I(path) (when I(content) is given) and applies
    it with C(netctl apply --auto-approve --json) in one transaction.
  - In check mode it runs C(netctl plan --json) on the new content instead and
    changes nothing: C(changed) says whether the file or the kernel would
    change.
  - With C(--diff), the diff is built from the plan's JSON document: for every
    object the plan creates, updates, replaces or deletes, its value before
    and after, one line per field named by the object's address
    (C(bridge.docker0.mtu: 1500)); and the file's old and new text when
    I(content) differs.
  - Errors name I(path), never a temporary file.
options:
  path:
    description: The netctl file on the host (C(netctl -f PATH)).
    type: path
    required: true
  content:
    description:
      - The file's text. When given, it is checked with netctl (an invalid
        file is never installed, and the kernel is left as it is), then
        written to I(path) if it differs, atomically, with mode 0644.
      - When omitted, the file already at I(path) is applied.
    type: str
  netns:
    description: A named network namespace (C(/run/netns/NAME)); empty for the host's own.
    type: str
    default: ""
  netctl_bin:
    description: The netctl program.
    type: path
    default: netctl
'''

EXAMPLES = r'''
- name: Container networking
  netctl.netctl.netctl:
    path: /etc/netctl/netctl.yaml
    content: "{{ lookup('ansible.builtin.file', 'netctl.yaml') }}"
'''

RETURN = r'''
plan:
  description: The plan's (or the apply's) JSON document, as netctl printed it.
  type: dict
  returned: when netctl printed one
resource_changes:
  description: The addresses of the objects changed (or, in check mode, to change).
  type: list
  returned: always
summary:
  description: add, change and destroy counts.
  type: dict
  returned: when netctl printed a document
file_changed:
  description: Whether the file at I(path) was (or would be) written.
  type: bool
  returned: always
'''

import json
import os
import tempfile

from ansible.module_utils.basic import AnsibleModule


def run_netctl(module, args, file_arg, display):
    """Runs netctl with --json; returns (rc, document or None, stderr).
    Every mention of file_arg (a temporary file) is replaced by display."""
    rc, out, err = module.run_command([module.params['netctl_bin']] + args, check_rc=False)
    if file_arg != display:
        out, err = out.replace(file_arg, display), err.replace(file_arg, display)
    doc = None
    try:
        doc = json.loads(out) if out.strip() else None
    except ValueError:
        doc = None
    return rc, doc, err


def netns_args(module):
    netns = module.params['netns']
    return ['--netns', netns] if netns else []


def flatten(prefix, value, out):
    """One line per scalar, each naming its object and field
    (bridge.docker0.mtu: 1500), so that every line of the diff says what
    it is about, whatever the context lines show."""
    if isinstance(value, dict):
        if not value:
            out.append('%s: {}' % prefix)
        for key in sorted(value):
            flatten('%s.%s' % (prefix, key), value[key], out)
    elif isinstance(value, list):
        if not value:
            out.append('%s: []' % prefix)
        for i, item in enumerate(value):
            flatten('%s[%d]' % (prefix, i), item, out)
    else:
        out.append('%s: %s' % (prefix, json.dumps(value)))
    return out


def changes(doc):
    """The entries of resource_changes that change something."""
    return [rc for rc in (doc or {}).get('resource_changes') or []
            if rc.get('change', {}).get('actions') != ['no-op']]


def object_diff(doc, header):
    """One before/after text of every changed object: what it is, then
    what it will be, so that Ansible's diff shows the changed lines."""
    before, after = [], []
    for rc in changes(doc):
        change = rc.get('change', {})
        if change.get('before') is not None:
            flatten(rc['address'], change['before'], before)
        if change.get('after') is not None:
            flatten(rc['address'], change['after'], after)
    return {
        'before_header': header + ' (live)',
        'after_header': header + ' (planned)',
        'before': ''.join(line + '\n' for line in before),
        'after': ''.join(line + '\n' for line in after),
    }


def error_of(doc, err, rc):
    if doc and doc.get('error'):
        return doc['error']
    return err.strip() or 'netctl exited %d' % rc


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type='path', required=True),
            content=dict(type='str'),
            netns=dict(type='str', default=''),
            netctl_bin=dict(type='path', default='netctl'),
        ),
        supports_check_mode=True,
    )
    path, content = module.params['path'], module.params['content']
    result = dict(changed=False, file_changed=False, resource_changes=[])
    diffs = []

    file_arg, tmp = path, None
    if content is not None:
        old = None
        if os.path.exists(path):
            with open(path, 'r') as f:
                old = f.read()
        result['file_changed'] = old != content
        if result['file_changed']:
            diffs.append({'before_header': path, 'after_header': path,
                          'before': old or '', 'after': content})
            # Beside the file (for an atomic rename), or, in check mode or
            # without its directory, in Ansible's temporary directory.
            directory = os.path.dirname(path) or '.'
            if module.check_mode or not os.path.isdir(directory):
                directory = module.tmpdir
            fd, tmp = tempfile.mkstemp(dir=directory, prefix='.' + os.path.basename(path) + '.', suffix='.tmp')
            with os.fdopen(fd, 'w') as f:
                f.write(content)
            file_arg = tmp

    try:
        # The plan checks the file and says what the apply would do; an
        # invalid file stops here, not installed, the kernel untouched.
        rc, doc, err = run_netctl(module, ['plan', '-f', file_arg, '--json', '--detailed-exitcode', '--no-color'] + netns_args(module), file_arg, path)
        if rc not in (0, 2) or doc is None:
            module.fail_json(msg=error_of(doc, err, rc), rc=rc, stderr=err, **result)
        result['plan'] = doc
        result['summary'] = doc.get('summary')
        result['resource_changes'] = [rc_['address'] for rc_ in changes(doc)]
        if module.check_mode:
            result['changed'] = result['file_changed'] or rc == 2
            if rc == 2:
                diffs.append(object_diff(doc, 'netctl'))
            module.exit_json(diff=diffs, **result)

        if tmp is not None:
            directory = os.path.dirname(path)
            if directory and not os.path.isdir(directory):
                os.makedirs(directory, 0o755)
            os.chmod(tmp, 0o644)
            module.atomic_move(tmp, path)
            tmp = None
        rc, doc, err = run_netctl(module, ['apply', '-f', path, '--auto-approve', '--json', '--no-color'] + netns_args(module), path, path)
        if doc is not None:
            result['plan'] = doc
            result['summary'] = doc.get('summary')
            result['resource_changes'] = [rc_['address'] for rc_ in changes(doc)]
        applied = bool(doc and doc.get('changed'))
        result['changed'] = result['file_changed'] or applied
        if rc != 0 or doc is None:
            result['rolled_back'] = bool(doc and doc.get('rolled_back'))
            module.fail_json(msg=error_of(doc, err, rc), rc=rc, stderr=err, **result)
        if applied:
            diffs.append(object_diff(doc, 'netctl'))
        module.exit_json(diff=diffs, **result)
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.remove(tmp)


if __name__ == '__main__':
    main()
