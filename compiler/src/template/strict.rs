//! Ansible refuses an undefined value everywhere but in further lookups
//! (`a.b.c`), `is defined` tests, `default` and `mandatory`:
//! `{{ srv.missing | upper }}` fails the task. minijinja's `Chainable`
//! mode, which keeps `a.b | default(x)` working, would hand the filter an
//! empty string instead; every filter registered through here refuses.

use minijinja::value::{FunctionArgs, FunctionResult, Rest, Value, ValueOrKwargs};
use minijinja::{functions::Function, Environment, Error, ErrorKind, State};

/// Registers `f` as the filter `name`, refusing an undefined value.
pub fn add_filter<F, Rv, Args>(env: &mut Environment<'static>, name: &'static str, f: F)
where
    F: Function<Rv, Args>,
    Rv: FunctionResult,
    Args: for<'a> FunctionArgs<'a>,
{
    refusing_undefined(env, name, Value::from_function(f));
}

/// Wraps minijinja's own filters that take the value they filter (all
/// but `default`/`d`, which exist for undefined values, and `safe`/
/// `escape`, which Ansible's templates do not use). Call it before adding
/// mc's filters, which replace some of them.
pub fn wrap_builtins(env: &mut Environment<'static>) {
    use minijinja::filters as f;
    let builtins = [
        ("lower", Value::from_function(f::lower)),
        ("upper", Value::from_function(f::upper)),
        ("title", Value::from_function(f::title)),
        ("capitalize", Value::from_function(f::capitalize)),
        ("replace", Value::from_function(f::replace)),
        ("length", Value::from_function(f::length)),
        ("count", Value::from_function(f::length)),
        ("dictsort", Value::from_function(f::dictsort)),
        ("items", Value::from_function(f::items)),
        ("reverse", Value::from_function(f::reverse)),
        ("trim", Value::from_function(f::trim)),
        ("join", Value::from_function(f::join)),
        ("split", Value::from_function(f::split)),
        ("lines", Value::from_function(f::lines)),
        ("round", Value::from_function(f::round)),
        ("abs", Value::from_function(f::abs)),
        ("float", Value::from_function(f::float)),
        ("attr", Value::from_function(f::attr)),
        ("first", Value::from_function(f::first)),
        ("last", Value::from_function(f::last)),
        ("min", Value::from_function(f::min)),
        ("max", Value::from_function(f::max)),
        ("sort", Value::from_function(f::sort)),
        ("list", Value::from_function(f::list)),
        ("batch", Value::from_function(f::batch)),
        ("slice", Value::from_function(f::slice)),
        ("sum", Value::from_function(f::sum)),
        ("select", Value::from_function(f::select)),
        ("reject", Value::from_function(f::reject)),
        ("selectattr", Value::from_function(f::selectattr)),
        ("rejectattr", Value::from_function(f::rejectattr)),
        ("map", Value::from_function(f::map)),
        ("groupby", Value::from_function(f::groupby)),
        ("unique", Value::from_function(f::unique)),
        ("chain", Value::from_function(f::chain)),
        ("zip", Value::from_function(f::zip)),
        ("pprint", Value::from_function(f::pprint)),
        ("format", Value::from_function(f::format)),
    ];
    for (name, filter) in builtins {
        refusing_undefined(env, name, filter);
    }
}

fn refusing_undefined(env: &mut Environment<'static>, name: &'static str, f: Value) {
    env.add_filter(name, move |state: &mut State, args: Rest<ValueOrKwargs>| {
        if args.first().is_some_and(|v| v.is_undefined()) {
            // Not `UndefinedError`: that one is named after the expression,
            // which for a filter is the filter's name.
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                format!(
                    "the value given to `{name}` is undefined (pass it in the template's vars, or put `| default(…)` before `{name}`)"
                ),
            ));
        }
        // Keyword arguments pass through as the callee's own.
        f.call(state, &args.into_values())
    });
}
