import { graphql } from "../gql";

export const MeDocument = graphql(`
  query Me {
    me {
      id
      email
      firstName
      lastName
      role
      permissions {
        permission
        access
      }
    }
  }
`);
