import { graphql } from "../../gql";

export const EnrollUserDocument = graphql(`
  mutation EnrollUser($input: EnrollUserInput!) {
    enrollUser(input: $input) {
      ...UserPayloadFields
    }
  }
`);
