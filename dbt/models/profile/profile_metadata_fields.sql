with records as (

    select * from {{ ref('stg_records') }}

),

entries as (

    select
        unnest(json_keys(metadata)) as metadata_field,
        metadata
    from records

),

typed as (

    select
        metadata_field,
        json_type(metadata, '$."' || replace(metadata_field, '"', '\"') || '"') as json_type,
        json_extract(metadata, '$."' || replace(metadata_field, '"', '\"') || '"')::varchar as value
    from entries

),

final as (

    select
        metadata_field,
        count(*) as rows_present,
        count(*) filter (where json_type <> 'NULL') as rows_non_null,
        count(distinct value) filter (where json_type <> 'NULL') as distinct_values,
        string_agg(distinct json_type, ',' order by json_type) as json_types
    from typed
    group by metadata_field

)

select * from final
