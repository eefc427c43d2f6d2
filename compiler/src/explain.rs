//! Long explanations of every diagnostic code (`mc explain CODE`). Codes
//! below E0100 belong to the parser, which explains them itself.

/// Every code the compiler emits after parsing: (code, title, explanation).
pub const CODES: &[(&str, &str, &str)] = &[
    ("E0101", "module not found", "\
An `import` names a file that does not exist, or the entry file cannot be read.

Import paths are relative to the importing file, not to the directory mc was
started in:

    // in roles/web.mc
    import \"../lib/users.mc\"     // lib/users.mc at the project root

A project is a directory with a `main.mc`, or a single `.mc` file given on the
command line."),
    ("E0102", "import cycle", "\
Modules import each other in a circle (a imports b, b imports a, possibly
through other modules). mc evaluates modules as a tree, so a cycle has no first
module. The message lists the whole cycle.

Move what both modules need into a third module that neither imports back."),
    ("E0103", "unknown name", "\
A name is used that is not defined where it is used. Names in scope are, from
inner to outer: local `let` bindings, `for` variables and parameters; the
module's top-level `let`, `fn`, `role` and `type` items; import aliases; and
the stdlib prelude. Inside `on` blocks (and the roles and functions they call)
`host` and `facts` are in scope too.

The suggestion names the closest name in scope when it looks like a typo:

    let http_port = 80
    file \"/etc/x\" { content = \"${http_prot}\" }   // did you mean `http_port`?"),
    ("E0104", "unknown resource type", "\
A resource statement `TYPE TITLE { … }` names a type that no stdlib (or
project) `resource` declaration defines. The stdlib types are: file, directory,
link, line, package, service, user, group, command, cron, sysctl, http_check.
See docs/stdlib.md."),
    ("E0105", "unknown role", "\
A statement calls a role that is not defined. Roles are declared with
`role NAME(params) { … }` in this module, or reached through an import alias:
`web.nginx(port = 80)` calls role `nginx` of the module imported as `web`."),
    ("E0106", "defined twice", "\
Two top-level items of one module define the same name (`let`, `fn`, `role`,
`type` or `resource`). Names in a module must be unique; rename one of them.
Different modules may use the same name: they are reached through different
import aliases."),
    ("E0107", "unknown module member", "\
`alias.name` refers to a name the imported module does not define at top
level, or `alias` is not a module. Only top-level items of a module can be
reached from outside it."),
    ("E0108", "unknown type", "\
A type annotation names a type that does not exist. Built-in types are Int,
Bool, String, Path, Mode, Duration and Secret; named types come from `type`
items, and resource types (`file`, `package`, …) are the types of resource
handles. Type aliases may not refer to themselves."),
    ("E0109", "resource type without a provider", "\
A project declares its own `resource` type. mc applies a resource through a
provider of its runner, and providers exist only for the standard library's
types (file, directory, link, line, package, service, user, group, command,
cron, sysctl, download, archive, git, systemd_unit, firewall_rule, …:
docs/stdlib.md lists them all). So every plan of it would fail on the host;
`mc check` refuses it instead. Build on the standard types in a `role`, or
run a `command` for a one-off."),
    ("E0201", "unknown attribute", "\
A resource sets an attribute its type does not declare. Every resource type
declares its attributes in the stdlib (see docs/stdlib.md); in addition every
resource accepts the meta-attributes requires, before, notify, subscribe, tags,
become, become_user, timeout, retries, retry_delay, retry_backoff and risk.

    file \"/etc/motd\" { contnet = \"hi\" }   // did you mean `content`?"),
    ("E0202", "mismatched types", "\
A value does not have the type the place it is used in requires: an attribute,
a parameter, an annotated `let`, a condition (Bool), a title, an iteration
(list or map), a value of a literal union (`\"present\" | \"absent\"`)…

mc has no implicit conversions: write `\"${port}\"` to make a string of an Int,
`to_int(s)` for the other way round.

Words from Ansible get mc's own as the fix: `state = \"started\"` becomes
`\"running\"`, `\"installed\"` becomes `\"present\"`, `\"removed\"` becomes
`\"absent\"`, a mode written as a string (`mode = \"0644\"`) becomes `0o644`, a
comma-separated string where a list goes (`groups = \"wheel,docker\"`) becomes
`[\"wheel\", \"docker\"]`, a number where a string goes becomes `\"5\"`, and
`yes`/`no` (also E0103) become `true`/`false`."),
    ("E0203", "missing required attribute", "\
A resource does not set an attribute that its type requires (an attribute
declared without a default that is not optional). For example a `link` needs a
`target` and a `line` needs `path` and `line`. The suggestion inserts the
missing attributes for you to fill in."),
    ("E0204", "unknown argument", "\
A call passes a named argument the function, role or resource type has no
parameter for, or passes more positional arguments than it has parameters."),
    ("E0205", "missing argument", "\
A call does not pass a parameter that has no default value. Pass it by name:
`base(admins = [\"alice\"])`."),
    ("E0206", "given twice", "\
The same attribute, record field or argument is set twice in one resource,
record literal, inventory entry or call. Keep one of them."),
    ("E0207", "unknown field", "\
A record or map does not have the field that is read, or a record literal has
a field its declared type does not. Use `??` to give a default for a field that
may be missing: `cfg.port ?? 80`."),
    ("E0208", "wrong operand types", "\
An operator is applied to values it is not defined for: arithmetic needs Ints
(or Durations), `+` also joins strings and lists, comparisons need two values
of the same ordered type, `&` merges records, `!` needs a Bool."),
    ("E0209", "not callable / not a value", "\
A name is used as the wrong kind of thing: a value called like a function, a
function called as a statement (only roles stand alone), a role used inside an
expression, or a type, function or module used as a value."),
    ("E0210", "secret leak", "\
A value that holds a secret (from `secret(\"name\")`, or a string that
interpolates one) flows into a place that is not declared `Secret`. Secrets may
only go into attributes whose type is `Secret` (file `content`, command `run`
and `env`, user `password`, …), so they never appear in plans, state or logs:
the catalog holds only the secret's name and the runner resolves it at apply
time.

    file \"/etc/app.env\" { content = \"DB=${secret(\\\"db\\\")}\" }   // fine
    file \"/etc/${secret(\\\"db\\\")}\" { }                          // E0210: titles are not secret"),
    ("E0211", "invalid path", "\
A `Path` value must be absolute (start with `/`) and hold no control
characters (NUL, newline, tab, escape …): no file a user means has one in its
name, and they would cut or forge lines in plans and logs. mc normalises paths
(removes `.`, `..` and repeated slashes), but does not guess a base directory."),
    ("E0212", "secret compared", "\
A secret is compared with `==` or `!=`. At compile time a secret is only a
reference: its value is read on the host when the plan is applied, so such a
comparison could only ever be false (or true for `!=`), whatever the secret
holds. Decide on something that is not secret instead, e.g. a `param` or a
host var, or let the host check it with a `command`'s `unless`."),
    ("E0230", "decimal permission mode", "\
A `mode` was written as a decimal number, such as `mode = 644`. Permission
modes are octal: decimal 644 is 0o1204 (sticky bit, owner write, others read),
almost never what was meant. Write modes with the `0o` prefix: `mode = 0o644`.
The quick fix (and `mc check --fix`) rewrites the literal when its digits are
octal ones. `mode = 0` is accepted."),
    ("E0301", "duplicate resource", "\
Two different declarations of the same resource (`type[title]`) end up in the
catalog of one host, for example from two roles. Identical declarations are
merged; declarations that differ are an error, because mc cannot know which
one is meant. Both places are shown; declare the resource once, or make the
two declarations agree."),
    ("E0302", "dependency cycle", "\
The ordering edges between resources form a cycle, so no order satisfies them
all. Edges come from requires/before/notify/subscribe, from handles used inside
attributes, and automatically (a file after its parent directory and owner, a
service after its package). The message prints the cycle with the place of
each resource."),
    ("E0303", "check failed", "\
A resource fails a `check` clause of its type: a rule the stdlib declares about
how attributes combine, for example that a file cannot have both `content` and
`source`. The message says what the rule requires."),
    ("E0304", "division by zero", "\
An integer division or remainder by zero happened while evaluating."),
    ("E0305", "index out of range", "\
A list index is past the end of the list (negative indexes count from the
end), or a map has no such key, or `range` would build a huge list. Use `??` to
give a default: `xs[3] ?? \"none\"`."),
    ("E0306", "recursion too deep", "\
Function or role calls nest deeper than the limit (64). Recursion is allowed
but must end; check the condition that stops it."),
    ("E0307", "dependency on an undeclared resource", "\
A requires/before/notify/subscribe edge, or a handle used in an attribute,
names a resource that is not declared for this host. Resources can only depend
on resources of the same host's catalog; declare it, or target it to the host."),
    ("E0308", "cannot read file", "\
A compile-time read (`import`, `file_contents(path)`, `template(path, …)`, a
template's include, `yaml_file`/`json_file`/`toml_file`, a file's `source`)
names a file that cannot be read, or one it may not read. Paths are relative
to the `.mc` file that names them. Reads are confined to the project folder
(the folder of `main.mc`) and the folders of `project { read_paths = [...] }`
(E0316); refused are paths that lead out of them (absolute, `..`, or through
a symbolic link), files in hidden folders (`.mc`, `.git`, `.ssh`), anything
under `/proc`, `/sys` or `/dev`, what is not a regular file (folders, pipes,
devices), files over 16 MiB, and imports of files not named `*.mc`. The
message says why; it never shows what the file holds."),
    ("E0309", "template error", "\
A Jinja2 template failed to render: a syntax error, a variable the template
prints that is not passed in `vars` (printing an undefined variable is an
error, so typos do not silently render as empty text; `x is defined` and
`x | default(...)` work as in Ansible), a filter given the wrong input, or an
`include`/`import`/`extends` of a file outside the project or named by a
variable rather than a quoted name. The message gives the template's line.
Templates render as Ansible's `template` module renders them; see
docs/templates.md."),
    ("E0310", "null value", "\
A field is read from `null`, typically an optional value that is not set. Use
`??` to give a default."),
    ("E0311", "integer overflow", "\
An integer computation does not fit in 64 bits."),
    ("E0312", "self-referential value", "\
A top-level `let` is defined in terms of itself, directly or through other
top-level bindings."),
    ("E0313", "data file does not parse", "\
A file read with `yaml_file`, `json_file` or `toml_file` is not valid YAML,
JSON or TOML. The message gives the line and column the parser stopped at."),
    ("E0314", "assertion failed", "\
An `assert COND : \"message\"` statement in an `on` block or a role found COND
false for a host. The host's evaluation stops there; the message names the
host, so a role applied to many hosts reports each host whose facts or vars
break the assumption:

    role nginx(workers: Int) {
      assert workers > 0 : \"workers must be positive\"
      assert facts.os.family == \"Debian\" : \"this role supports Debian only\"
    }

COND must be a Bool (E0202 otherwise) and the message a String. `mc check`
evaluates each host with its facts (see docs/cli.md), so an assertion only a
RedHat host fails is caught before any host is touched."),
    ("E0315", "unknown parameter", "\
`--var NAME=VALUE` names no `param NAME: Type = default` item of the project.
Check the spelling, or declare the parameter. A value that does not fit the
param's type is reported as a type mismatch (E0202) naming the `--var`."),
    ("E0316", "invalid read_paths", "\
`project { read_paths = [...] }` widens where compile-time reads (imports,
templates, data files, `file_contents`, `source`) may go beyond the project
folder. It must be a list of quoted paths, relative to the project folder or
absolute, and it is read from the entry file (`main.mc`) only, so an imported
file cannot widen it:

    project {
      read_paths = [\"../shared\"]
    }

`/proc`, `/sys`, `/dev` and hidden folders are never read, whatever it says."),
    ("E0317", "evaluation budget exceeded", "\
Evaluating one host's catalog spent more than its budget: 20 million
expression steps, 64 MiB of strings built, or 5 million list and record
elements built. The standard 77-resource workload uses well under 1% of
each, so this is a loop, a recursion or a doubling (`s + s` in a recursive
function, comprehensions nested over large ranges) that builds far more than
any configuration needs. The error is where the budget ran out; bound the
computation."),
    ("E0401", "var missing on a host", "\
Code inside `on` reads `host.vars.NAME`, but one of the hosts the block targets
has no var NAME: neither the host nor any of its groups sets it. The message
names that host. Set the var in the inventory, or give a default:

    port = host.vars.port ?? 80

A host's vars are its groups' vars in the order of its `groups` list (later
groups win), then its own `vars`."),
    ("E0402", "unknown host", "\
A target `host(\"NAME\")` names a host that is not in the inventory. Hosts are
declared with `host \"NAME\" { … }`."),
    ("E0403", "unknown group", "\
A target `group(\"NAME\")` names a group that no host belongs to and no
`group \"NAME\" { … }` declares."),
    ("E0404", "inventory entry declared twice", "\
Two `host` (or two `group`) items have the same name. Merge them into one."),
    ("E0405", "invalid inventory field", "\
A `host` or `group` entry has a field it does not know, or a field of the wrong
type. Host fields: address (String, default: the name), user (String), port
(Int), groups ([String]), vars (record), transport (\"ssh\" or \"local\"),
become (Bool). Group fields: vars."),
    ("E0406", "unknown host", "\
`mc compile --host NAME` (or another command given a host) names a host the
inventory does not declare."),
    ("E0407", "invalid facts", "\
The facts given for a host (`--facts FILE.json`) are not a JSON object."),
    ("E0408", "inconsistent var types", "\
A host var has values of different types on different hosts, for example
`port = 8080` on one host (through a group) and `port = \"8080\"` on another.
Code that reads `host.vars.port` must mean the same thing for every host it
targets, so a var has one type across the inventory. The message names both
hosts; the var may be set by the host itself or by one of its groups."),
    ("E0409", "unknown child group", "\
A group's `children` names a group that is neither declared with
`group \"NAME\" { … }` nor named in any host's `groups`. It is usually a typo;
declare the group, or fix the name."),
    ("E0410", "cycle of groups", "\
A group contains itself through `children` (`a` lists `b`, `b` lists `a`).
Groups nest as a tree (or a DAG): remove one of the `children` entries."),
    ("W0001", "target selects no host", "\
An `on` block's target matches none of the inventory's hosts, so its
resources end up in no catalog. Usually a host or group name is misspelt, or
a combination like `group(\"web\") && group(\"db\")` matches nobody. This
is a warning: `mc check` still succeeds."),
    ("W0002", "more diagnostics not shown", "\
A file has more than 100 diagnostics: `mc check` (and the language server)
show the first 100 and count the rest, as rustc and tsc stop early. Usually
one early mistake (an unclosed string or brace) causes most of them: fix the
first ones and check again."),
];

/// The long explanation of any code, parser codes included.
pub fn explain(code: &str) -> Option<&'static str> {
    CODES
        .iter()
        .chain(crate::policy::POLICY_CODES)
        .find(|(c, _, _)| *c == code)
        .map(|(_, _, text)| *text)
        .or_else(|| mc_grammar::explain(code))
}

/// Every code with an explanation, in order.
pub fn all_codes() -> Vec<String> {
    let mut out: Vec<String> = (1..100)
        .map(|n| format!("E{n:04}"))
        .filter(|c| mc_grammar::explain(c).is_some())
        .collect();
    out.extend(CODES.iter().map(|(c, _, _)| c.to_string()));
    out.extend(
        crate::policy::POLICY_CODES
            .iter()
            .map(|(c, _, _)| c.to_string()),
    );
    out
}
