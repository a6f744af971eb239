using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetAudio.Data;

namespace MLNetAudio.Tests.Data;

public class SchemaShapesTests
{
    private sealed class Row
    {
        public string User { get; set; } = string.Empty;

        [VectorType(3)]
        public float[] Values { get; set; } = [];
    }

    [Fact]
    public void A_key_column_is_described_as_ML_NET_describes_it()
    {
        // SchemaShape.Column's constructor refuses a key type as the item type; ML.NET passes the raw type with
        // isKey set. Before, describing a data view with key columns (plays keyed by MapValueToKey) threw.
        var ml = new MLContext(1);
        var data = ml.Data.LoadFromEnumerable([new Row { User = "a", Values = [1, 2, 3] }, new Row { User = "b", Values = [4, 5, 6] }]);
        var toKey = ml.Transforms.Conversion.MapValueToKey("UserKey", "User");
        var keyed = toKey.Fit(data).Transform(data);
        var input = new SchemaShape(keyed.Schema.Where(c => c.Name != "UserKey").Select(c => SchemaShapes.MakeColumn(c.Name, c.Type)));
        var expected = toKey.GetOutputSchema(input).Single(c => c.Name == "UserKey");

        var ours = SchemaShapes.MakeColumn("UserKey", keyed.Schema["UserKey"].Type);
        Assert.True(ours.IsKey);
        Assert.Equal(expected.IsKey, ours.IsKey);
        Assert.Equal(expected.Kind, ours.Kind);
        Assert.Equal(expected.ItemType, ours.ItemType);
        Assert.Equal(NumberDataViewType.UInt32, ours.ItemType);

        var vectorOfKeys = SchemaShapes.MakeColumn("Keys", new VectorDataViewType(new KeyDataViewType(typeof(ushort), 9), 4));
        Assert.True(vectorOfKeys.IsKey);
        Assert.Equal(SchemaShape.Column.VectorKind.Vector, vectorOfKeys.Kind);
        Assert.Equal(NumberDataViewType.UInt16, vectorOfKeys.ItemType);

        var values = SchemaShapes.MakeColumn("Values", keyed.Schema["Values"].Type);
        Assert.False(values.IsKey);
        Assert.Equal(NumberDataViewType.Single, values.ItemType);
    }
}
