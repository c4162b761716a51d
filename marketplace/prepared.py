"""ORM queries compiled once per shape and run again with new values.

Some reads on the hot paths are rules best written with the ORM (who may be offered a
ticket is one definition, shared by dispatch and the wait estimate), but compiling such a
query, again for every ticket, cost more CPU than PostgreSQL spent running it
(docs/performance.md). A `PreparedQuery` builds its queryset once per shape (the things
that change the SQL text: how many skill tags, whether there is a tier floor) with marker
values in place of the real ones, compiles it, finds where each marker went among the
statement's parameters, and from then on only puts the real values in those places.

The mapping is checked when it is made: the query is compiled a second time with other
markers, and both compilations must give the same SQL with the markers in the same places;
every marker must be found, and none may have been changed on the way (a `contains` lookup
wraps its value in `%`). A query whose text depends on a value, not only its shape, is
refused there, when it is first used, not answered wrongly later.

The idea is the one of rutube's django-prepared-queries, which is unmaintained and does
not run on current Django.

A `PreparedInsert` does the same for saving a new row: its INSERT depends only on the
model, so it is compiled once, and each call only reads the instance's values. A
`PreparedSave` writes named fields of a stored row, as `save(update_fields=...)` does.
"""

import threading
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field, Model, QuerySet
from django.db.models import Value as V
from django.db.models.constants import OnConflict
from django.db.models.query import ModelIterable, ValuesListIterable, get_related_populators
from django.db.models.sql import InsertQuery, UpdateQuery
from django.db.transaction import TransactionManagementError


class PreparedQueryError(ValueError):
    """The query cannot be prepared: its SQL depends on a value, not only on its shape."""


def _markers(values: dict[str, Any], variant: int) -> tuple[dict[str, Any], dict[Any, tuple[str, int | None]]]:
    """Marker values in the shape of `values`, and which value each marker stands for
    ((name, None) for a plain value, (name, k) for the k-th item of a list)."""
    counter = iter(range(1, 10_000))
    found: dict[Any, tuple[str, int | None]] = {}

    def marker(value: Any, where: tuple[str, int | None]) -> Any:
        n = next(counter) + 1001 * variant
        if isinstance(value, bool) or value is None:
            raise PreparedQueryError(f"{where[0]}: a None or bool changes the SQL; make it part of the shape")
        if isinstance(value, int):
            # Within the range of every integer field, positive ones and small ones too:
            # Django turns a comparison with a value out of a field's range into a constant.
            made: Any = 17_000 + n
        elif isinstance(value, str):
            made = f"\x1fmarker {n}\x1f"
        elif isinstance(value, datetime):
            made = datetime(2000, 1, 1, tzinfo=UTC) + timedelta(seconds=n)
        else:
            raise PreparedQueryError(f"{where[0]}: {type(value).__name__} values are not supported")
        found[made] = where
        return made

    marked: dict[str, Any] = {}
    for name, value in values.items():
        if isinstance(value, list | tuple):
            marked[name] = [marker(item, (name, k)) for k, item in enumerate(value)]
        else:
            marked[name] = marker(value, (name, None))
    return marked, found


@dataclass(frozen=True)
class _Slot:
    name: str
    item: int | None
    adapt_datetime: bool  # the backend sends datetimes as adapted text (SQLite)


@dataclass
class _Plan:
    sql: str
    params: list[Any]
    slots: dict[int, _Slot]  # parameter position -> where its value comes from
    model: type[Model] | None  # None: rows come back as tuples (a values_list query)
    init_list: list[str]
    fields: tuple[int, int]
    annotations: dict[str, int]
    converters: dict[int, tuple[list[Callable[..., Any]], Any]]
    populators: list[Any]
    locks: bool = False  # SELECT ... FOR UPDATE


def _once(plans: dict[Any, Any], lock: threading.Lock, key: Hashable, prepare: Callable[[], Any]) -> Any:
    """The plan under `key`, prepared by the first thread that asks for it."""
    plan = plans.get(key)
    if plan is None:
        with lock:
            plan = plans.get(key) or prepare()
            plans[key] = plan
    return plan


class _Statement:
    """What preparing a query and an update share: the plans per shape, the markers, and
    putting the real values in their places."""

    def __init__(self, build: Callable[..., Any]):
        self.build = build
        self._plans: dict[Hashable, Any] = {}
        self._lock = threading.Lock()

    def _plan(self, connection: BaseDatabaseWrapper, shape: Hashable, values: dict[str, Any]) -> Any:
        return _once(
            self._plans, self._lock, (connection.vendor, shape), lambda: self._prepare(connection, shape, values)
        )

    def _prepare(self, connection: BaseDatabaseWrapper, shape: Hashable, values: dict[str, Any]) -> Any:
        raise NotImplementedError

    def _sql(self, connection: BaseDatabaseWrapper, built: Any) -> tuple[Any, str, Sequence[Any]]:
        """The compiler, SQL and parameters of what `build` returned."""
        raise NotImplementedError

    @staticmethod
    def _params(plan: Any, values: dict[str, Any], connection: BaseDatabaseWrapper) -> list[Any]:
        params = list(plan.params)
        for position, slot in plan.slots.items():
            value = values[slot.name] if slot.item is None else values[slot.name][slot.item]
            params[position] = connection.ops.adapt_datetimefield_value(value) if slot.adapt_datetime else value
        return params

    def _compile(
        self, connection: BaseDatabaseWrapper, shape: Hashable, values: dict[str, Any], variant: int
    ) -> tuple[Any, Any, Any]:
        marked, found = _markers(values, variant)
        built = self.build(shape, **marked)
        compiler, sql, params = self._sql(connection, built)
        slots: dict[int, _Slot] = {}
        adapted = {connection.ops.adapt_datetimefield_value(m): m for m in found if isinstance(m, datetime)}
        for position, param in enumerate(params):
            if isinstance(param, Hashable) and param in found:
                name, item = found[param]
                slots[position] = _Slot(name, item, adapt_datetime=False)
            elif isinstance(param, Hashable) and param in adapted and adapted[param] is not param:
                name, item = found[adapted[param]]
                slots[position] = _Slot(name, item, adapt_datetime=True)
            elif isinstance(param, str) and "\x1fmarker" in param:
                raise PreparedQueryError(f"a value was changed on its way into the SQL: {param!r}")
        missing = {where for where in found.values()} - {(s.name, s.item) for s in slots.values()}
        if missing:
            raise PreparedQueryError(f"values not sent as parameters: {sorted(missing, key=str)}")
        return built, compiler, (sql, list(params), slots)

    def _compile_twice(
        self, connection: BaseDatabaseWrapper, shape: Hashable, values: dict[str, Any]
    ) -> tuple[Any, Any, Any]:
        built, compiler, (sql, params, slots) = self._compile(connection, shape, values, 0)
        _, _, (sql_again, params_again, slots_again) = self._compile(connection, shape, values, 1)
        if sql_again != sql or slots_again != slots:
            raise PreparedQueryError("the SQL depends on the values, not only on the shape")
        # The parameters that are not values must be the same both times: one that changed
        # was made inside `build` (the time now, say) and would be frozen at its first value.
        changed = [n for n, (a, b) in enumerate(zip(params, params_again, strict=True)) if n not in slots and a != b]
        if changed:
            raise PreparedQueryError(
                f"parameters {changed} differ between two compilations: pass such a value in, do not make it in build"
            )
        return built, compiler, (sql, params, slots)


class PreparedQuery(_Statement):
    """`build(shape, **values)` returns the queryset for those values; the instance is called as
    `query(shape, **values)` and returns the model instances, as the queryset would (or
    tuples, for a `values_list` query).

    `shape` must hold everything that changes the SQL text but is not a value: lengths of
    list values, whether an optional filter applies, constant lists. Values are ints,
    strings, aware datetimes or lists of those; a None or a bool belongs in the shape."""

    def __call__(self, shape: Hashable, **values: Any) -> list[Any]:
        connection = connections[DEFAULT_DB_ALIAS]
        plan: _Plan = self._plan(connection, shape, values)
        if plan.locks and connection.get_autocommit():
            # As the ORM refuses it: a row lock that ends with its own statement locks nothing.
            raise TransactionManagementError("select_for_update cannot be used outside of a transaction.")
        with connection.cursor() as cursor:
            cursor.execute(plan.sql, self._params(plan, values, connection))
            rows = cursor.fetchall()
        return [self._instance(plan, row, connection) for row in rows]

    def first(self, shape: Hashable, **values: Any) -> Any:
        """The first instance (or tuple), or None: for a query sliced to one row."""
        found = self(shape, **values)
        return found[0] if found else None

    def _sql(self, connection: BaseDatabaseWrapper, built: Any) -> tuple[Any, str, Sequence[Any]]:
        compiler = built.query.get_compiler(connection=connection)
        sql, params = compiler.as_sql()
        return compiler, sql, params

    def _prepare(self, connection: BaseDatabaseWrapper, shape: Hashable, values: dict[str, Any]) -> _Plan:
        queryset, compiler, (sql, params, slots) = self._compile_twice(connection, shape, values)
        if queryset._iterable_class not in (ModelIterable, ValuesListIterable):
            raise PreparedQueryError("rows come back as model instances or as values_list() tuples")
        select, klass_info = compiler.select, compiler.klass_info
        fields = [s[0] for s in select[0 : compiler.col_count]]
        if queryset._iterable_class is ValuesListIterable:  # tuples, in the order named
            return _Plan(
                sql=sql,
                params=params,
                slots=slots,
                model=None,
                init_list=[],
                fields=(0, compiler.col_count),
                annotations={},
                converters=compiler.get_converters(fields),
                populators=[],
                locks=queryset.query.select_for_update,
            )
        start, end = klass_info["select_fields"][0], klass_info["select_fields"][-1] + 1
        return _Plan(
            sql=sql,
            params=params,
            slots=slots,
            model=klass_info["model"],
            init_list=[f[0].target.attname for f in select[start:end]],
            fields=(start, end),
            annotations=dict(compiler.annotation_col_map),
            converters=compiler.get_converters(fields),
            locks=queryset.query.select_for_update,
            # The type stubs describe a later Django, whose version takes a fetch mode too.
            populators=get_related_populators(klass_info, select, connection.alias),  # type: ignore[call-arg]
        )

    @staticmethod
    def _instance(plan: _Plan, row: Sequence[Any], connection: BaseDatabaseWrapper) -> Any:
        values = list(row)
        for position, (converters, expression) in plan.converters.items():
            for convert in converters:
                values[position] = convert(values[position], expression, connection)
        start, end = plan.fields
        if plan.model is None:
            return tuple(values[start:end])
        instance = plan.model.from_db(connection.alias, plan.init_list, values[start:end])
        for populator in plan.populators:
            populator.populate(values, instance)
        for name, position in plan.annotations.items():
            setattr(instance, name, values[position])
        return instance


@dataclass
class _UpdatePlan:
    sql: str
    params: list[Any]
    slots: dict[int, _Slot]


class PreparedUpdate(_Statement):
    """`build(shape, **values)` returns `(queryset, changes)`; calling the instance as
    `update(shape, **values)` runs `queryset.update(**changes)` and returns the number of
    rows changed. Prepared as a PreparedQuery is, with the same rules for shapes and values
    (a constant such as `False` or `F("load") + 1` may be written in `changes`)."""

    def __call__(self, shape: Hashable, **values: Any) -> int:
        connection = connections[DEFAULT_DB_ALIAS]
        plan: _UpdatePlan = self._plan(connection, shape, values)
        with connection.cursor() as cursor:
            cursor.execute(plan.sql, self._params(plan, values, connection))
            return int(cursor.rowcount)

    def _sql(self, connection: BaseDatabaseWrapper, built: Any) -> tuple[Any, str, Sequence[Any]]:
        queryset, changes = built
        query = queryset.query.chain(UpdateQuery)
        query.add_update_values(changes)
        compiler = query.get_compiler(connection=connection)
        sql, params = compiler.as_sql()
        return compiler, sql, params

    def _prepare(self, connection: BaseDatabaseWrapper, shape: Hashable, values: dict[str, Any]) -> _UpdatePlan:
        (queryset, _), compiler, (sql, params, slots) = self._compile_twice(connection, shape, values)
        if compiler.query.related_updates:
            raise PreparedQueryError("an update of a parent model's fields takes more than one statement")
        return _UpdatePlan(sql, params, slots)


def totals(queryset: QuerySet[Any], **aggregates: Any) -> QuerySet[Any]:
    """`queryset.aggregate(**aggregates)` as a query that can be prepared: one row, the
    aggregates in the order given. Grouping by a constant leaves the GROUP BY out (Django
    does not group by a constant), so the aggregates cover every row, as aggregate() does."""
    return queryset.annotate(everything=V(1)).values("everything").annotate(**aggregates).values_list(*aggregates)


@dataclass
class _InsertPlan:
    sql: str
    fields: list[Any]
    returning: list[Any]
    converters: dict[int, tuple[list[Any], Any]]
    by_column: bool  # several rows sent as one array per column (PostgreSQL's UNNEST)


M = TypeVar("M", bound=Model)


class _RowWrite(Generic[M]):
    """What writing one instance's row shares between an INSERT and an UPDATE: the plans
    per database (and per field list), and each field's value as `save()` sends it."""

    def __init__(self, model: type[M]):
        self.model = model
        self._plans: dict[Hashable, Any] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _db_values(fields: Sequence[Any], obj: M, connection: BaseDatabaseWrapper, *, add: bool) -> list[Any]:
        params = []
        for field in fields:
            value = field.pre_save(obj, add)
            if hasattr(value, "resolve_expression"):
                raise PreparedQueryError(f"{field.name} is an expression, which changes the SQL")
            params.append(field.get_db_prep_save(value, connection=connection))
        return params


class PreparedInsert(_RowWrite[M]):
    """`insert(instance)` saves a new instance as `Model.objects.create` does (defaults,
    `auto_now_add`, each field's conversion for the database, the primary key and any other
    returned columns set on the instance), with its INSERT compiled once per database rather
    than on every call; `insert.many(instances)` writes several in one statement, as
    `bulk_create` does. `save()`'s signals are not sent: use it for models that have no
    receivers. A value that is an expression (F(), a database default) changes the SQL and
    is refused.

    As `bulk_create` can, an insert may settle a clash with an existing row in the same
    statement: `insert.if_new(instance)` writes nothing then and returns None (a retried
    write needs no savepoint to survive the unique index), and an instance made with
    `update_fields` and `unique_fields` updates the existing row instead and returns it (an
    upsert)."""

    def __init__(self, model: type[M], *, update_fields: Sequence[str] = (), unique_fields: Sequence[str] = ()):
        super().__init__(model)
        if bool(update_fields) != bool(unique_fields):
            raise PreparedQueryError("an upsert names the fields to update and the unique fields that clash")
        self.update_fields, self.unique_fields = list(update_fields), list(unique_fields)
        self._on_conflict = OnConflict.UPDATE if update_fields else None

    def __call__(self, obj: M) -> M:
        (stored,) = self._insert([obj], self._on_conflict)
        return stored

    def many(self, objs: Sequence[M]) -> list[M]:
        """Several new instances in one INSERT, each given its primary key."""
        return self._insert(objs, self._on_conflict) if objs else []

    def if_new(self, obj: M) -> M | None:
        """The instance inserted, or None when a row it clashes with on a unique index exists."""
        if self.update_fields:
            raise PreparedQueryError("an upsert updates the row it clashes with; it does not skip it")
        stored = self._insert([obj], OnConflict.IGNORE)
        return stored[0] if stored else None

    def _insert(self, objs: Sequence[M], on_conflict: OnConflict | None) -> list[M]:
        if any(not obj._state.adding or obj.pk is not None for obj in objs):
            raise PreparedQueryError("only a new instance, without a primary key, is inserted")
        connection = connections[DEFAULT_DB_ALIAS]
        plan: _InsertPlan = _once(
            self._plans,
            self._lock,
            (connection.vendor, len(objs), on_conflict),
            lambda: self._prepare(connection, objs, on_conflict),
        )
        values = [self._db_values(plan.fields, obj, connection, add=True) for obj in objs]
        params = (
            [list(column) for column in zip(*values, strict=True)]
            if plan.by_column
            else [v for row in values for v in row]
        )
        with connection.cursor() as cursor:
            cursor.execute(plan.sql, params)
            rows = cursor.fetchall()
        if not rows:
            return []  # a clash was ignored
        for obj, row in zip(objs, rows, strict=True):
            for i, (field, value) in enumerate(zip(plan.returning, row, strict=True)):
                converters, expression = plan.converters.get(i, ([], None))
                for convert in converters:
                    value = convert(value, expression, connection)
                setattr(obj, field.attname, value)
            obj._state.adding = False
            obj._state.db = connection.alias
        return list(objs)

    def _prepare(
        self, connection: BaseDatabaseWrapper, objs: Sequence[M], on_conflict: OnConflict | None
    ) -> _InsertPlan:
        # The fields and returned columns that Model._save_table inserts for a new row.
        opts = self.model._meta
        fields = [f for f in opts.local_concrete_fields if not f.generated and f is not opts.auto_field]
        returning = list(opts.db_returning_fields)
        if not connection.features.can_return_columns_from_insert:
            raise PreparedQueryError(f"{connection.vendor} cannot return the new row's columns from its INSERT")
        if len(objs) > 1 and not connection.features.can_return_rows_from_bulk_insert:
            raise PreparedQueryError(f"{connection.vendor} cannot return the rows of an INSERT of several")
        query = InsertQuery(
            self.model,
            on_conflict=on_conflict,
            update_fields=[opts.get_field(name) for name in self.update_fields],
            unique_fields=[opts.get_field(name) for name in self.unique_fields],
        )
        query.insert_values(fields, list(objs))
        compiler = query.get_compiler(connection=connection)
        compiler.returning_fields = returning
        ((sql, _),) = compiler.as_sql()
        # A value per placeholder, row after row; or, when Django inserts several rows through
        # UNNEST, an array per column.
        by_column = len(objs) > 1 and sql.count("%s") == len(fields)
        if not by_column and sql.count("%s") != len(fields) * len(objs):
            raise PreparedQueryError(f"the INSERT of {opts.label} has a placeholder that is not one value")
        converters = compiler.get_converters([field.get_col(opts.db_table) for field in returning])
        return _InsertPlan(sql, fields, returning, converters, by_column)


@dataclass
class _SavePlan:
    sql: str
    fields: list[Any]


class PreparedSave(_RowWrite[M]):
    """`save(instance, fields)` writes the named fields of a stored instance, as
    `instance.save(update_fields=fields)` does (`auto_now`, each field's conversion for the
    database, an error when no row was changed), with the UPDATE made once per database and
    field list rather than compiled on every call. JSON values are sent as parameters too,
    which the markers of a PreparedUpdate cannot stand in for. `save()`'s signals are not
    sent: use it for models that have no receivers."""

    def __call__(self, obj: M, fields: Sequence[str]) -> None:
        if obj._state.adding or obj.pk is None:
            raise PreparedQueryError("only a stored instance, with a primary key, is saved")
        connection = connections[DEFAULT_DB_ALIAS]
        key = (connection.vendor, tuple(fields))
        plan: _SavePlan = _once(self._plans, self._lock, key, lambda: self._prepare(connection, fields))
        params = self._db_values(plan.fields, obj, connection, add=False)
        params.append(self.model._meta.pk.get_db_prep_value(obj.pk, connection))
        with connection.cursor() as cursor:
            cursor.execute(plan.sql, params)
            if cursor.rowcount == 0:
                # As Model.save(update_fields=...) says it.
                raise DatabaseError("Save with update_fields did not affect any rows.")

    def _prepare(self, connection: BaseDatabaseWrapper, names: Sequence[str]) -> _SavePlan:
        opts = self.model._meta
        if not names or len(set(names)) != len(names):
            raise PreparedQueryError("name each field to save once")
        fields: list[Field[Any, Any]] = []
        for name in names:
            field = opts.get_field(name)
            if not isinstance(field, Field) or field not in opts.local_concrete_fields:
                raise PreparedQueryError(f"{name} is not a column of {opts.label}'s own table")
            if field.primary_key or field.generated:
                raise PreparedQueryError(f"{name} is the primary key or generated: it is not saved")
            if hasattr(field, "get_placeholder"):
                raise PreparedQueryError(f"{name} needs its own placeholder")
            fields.append(field)
        quote = connection.ops.quote_name
        table = quote(opts.db_table)
        assignments = ", ".join(f"{quote(str(field.column))} = %s" for field in fields)
        # Names quoted from the model's own metadata; every value is a parameter.
        sql = f"UPDATE {table} SET {assignments} WHERE {table}.{quote(str(opts.pk.column))} = %s"  # noqa: S608
        return _SavePlan(sql, fields)
