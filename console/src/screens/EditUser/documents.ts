import { graphql } from "../../gql";

export const EditableUserDocument = graphql(`
  query EditableUser($id: ID!) {
    user(id: $id) {
      ...UserFields
    }
  }
`);

export const UpdateUserDocument = graphql(`
  mutation UpdateUser($id: ID!, $input: UpdateUserInput!) {
    updateUser(id: $id, input: $input) {
      ...UserPayloadFields
    }
  }
`);
