using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetAudio.Data;

/// <summary>Helpers for estimators' <see cref="IEstimator{T}.GetOutputSchema"/>.</summary>
internal static class SchemaShapes
{
    private static readonly System.Reflection.ConstructorInfo ColumnCtor =
        typeof(SchemaShape.Column).GetConstructors(System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.NonPublic)
            .SingleOrDefault(c => c.GetParameters().Length == 5)
        ?? throw new InvalidOperationException("This version of Microsoft.ML has no SchemaShape.Column(name, kind, type, isKey, annotations) constructor; MLNetAudio needs Microsoft.ML 5.x.");

    /// <summary>
    /// Appends output columns to a schema shape (a new column replaces an input column of the same name).
    /// </summary>
    /// <remarks>
    /// ML.NET 5.0.1 keeps both <see cref="SchemaShape.Column"/>'s constructor and <c>SchemaShape.Create</c>
    /// internal, so a third-party estimator cannot describe its output shape otherwise; the constructor is
    /// called through reflection, once per column, and its absence fails with a plain message.
    /// </remarks>
    public static SchemaShape Append(SchemaShape input, IEnumerable<OutputColumn> outputs)
    {
        var result = input.ToDictionary(c => c.Name);
        foreach (var o in outputs)
        {
            result[o.Name] = MakeColumn(o.Name, o.Type, o.Annotations);
        }

        return new SchemaShape(result.Values);
    }

    /// <summary>The shape-level description of a column of <paramref name="type"/>.</summary>
    public static SchemaShape.Column MakeColumn(string name, DataViewType type, DataViewSchema.Annotations? annotations = null)
    {
        var kind = type is VectorDataViewType v
            ? (v.IsKnownSize ? SchemaShape.Column.VectorKind.Vector : SchemaShape.Column.VectorKind.VariableVector)
            : SchemaShape.Column.VectorKind.Scalar;
        var item = type is VectorDataViewType vt ? vt.ItemType : type;
        var annotationShape = annotations is null
            ? null
            : new SchemaShape(annotations.Schema.Select(a => MakeColumn(a.Name, a.Type)));

        // As ML.NET's own SchemaShape.Create: a key column is described by its raw type with isKey set (the
        // constructor refuses a key type as the item type).
        bool isKey = item is KeyDataViewType;
        if (item is KeyDataViewType key)
        {
            item = KeyRawType(key, name);
        }

        return (SchemaShape.Column)ColumnCtor.Invoke([name, kind, item, isKey, annotationShape]);
    }

    private static NumberDataViewType KeyRawType(KeyDataViewType key, string column) => key.RawType switch
    {
        var t when t == typeof(byte) => NumberDataViewType.Byte,
        var t when t == typeof(ushort) => NumberDataViewType.UInt16,
        var t when t == typeof(uint) => NumberDataViewType.UInt32,
        var t when t == typeof(ulong) => NumberDataViewType.UInt64,
        _ => throw new ArgumentException($"Column '{column}' is a key over {key.RawType.Name}, which ML.NET does not define.", nameof(key)),
    };

    /// <summary>Finds a column or throws an error that names it and lists what the data has.</summary>
    public static SchemaShape.Column Require(SchemaShape input, string name, string role)
    {
        var found = input.Where(c => c.Name == name).ToList();
        if (found.Count == 0)
        {
            throw new ArgumentException(
                $"{role} column '{name}' was not found. The data has: {string.Join(", ", input.Select(c => $"'{c.Name}'"))}.",
                nameof(input));
        }

        return found[^1];
    }

    /// <summary>Finds a column or throws an error that names it and lists what the data has.</summary>
    public static DataViewSchema.Column Require(DataViewSchema input, string name, string role)
    {
        return input.GetColumnOrNull(name)
            ?? throw new ArgumentException(
                $"{role} column '{name}' was not found. The data has: {string.Join(", ", input.Select(c => $"'{c.Name}'"))}.",
                nameof(input));
    }
}
