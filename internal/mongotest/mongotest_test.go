package mongotest

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// TestServerStoresAndAggregates: an authenticated client writes documents
// and reads back a $group over them, the operations analytics uses.
func TestServerStoresAndAggregates(t *testing.T) {
	s := Start(t)
	coll := s.Connect(t).Database("intelliflow").Collection("probe")
	ctx := context.Background()
	_, err := coll.InsertMany(ctx, []any{bson.D{{Key: "_id", Value: "a"}, {Key: "k", Value: "x"}, {Key: "n", Value: 2}},
		bson.D{{Key: "_id", Value: "b"}, {Key: "k", Value: "x"}, {Key: "n", Value: 3}}})
	require.NoError(t, err)
	cur, err := coll.Aggregate(ctx, bson.A{
		bson.D{{Key: "$match", Value: bson.D{{Key: "k", Value: "x"}}}},
		bson.D{{Key: "$group", Value: bson.D{{Key: "_id", Value: "$k"}, {Key: "n", Value: bson.D{{Key: "$sum", Value: "$n"}}}}}},
	})
	require.NoError(t, err)
	var out []struct {
		ID string `bson:"_id"`
		N  int    `bson:"n"`
	}
	require.NoError(t, cur.All(ctx, &out))
	require.Len(t, out, 1)
	require.Equal(t, 5, out[0].N)
}
