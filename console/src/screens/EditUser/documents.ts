import { graphql } from "../../gql";

export const EditableUserDocument = graphql(`
  query EditableUser($id: ID!) {
    user(id: $id) {
      id
      email
      firstName
      lastName
      role
    }
  }
`);

export const UpdateUserDocument = graphql(`
  mutation UpdateUser($id: ID!, $input: UpdateUserInput!) {
    updateUser(id: $id, input: $input) {
      user {
        id
      }
      approvalRequest {
        id
      }
      errors {
        code
        field
        message
      }
    }
  }
`);
