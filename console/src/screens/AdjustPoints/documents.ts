import { graphql } from "../../gql";

export const AdjustableUserDocument = graphql(`
  query AdjustableUser($id: ID!) {
    user(id: $id) {
      ...UserFields
      pointsAccounts {
        ...PointsAccountFields
      }
    }
  }
`);

export const AdjustPointsDocument = graphql(`
  mutation AdjustPoints($input: AdjustPointsInput!) {
    adjustPoints(input: $input) {
      ...PointsPayloadFields
    }
  }
`);
